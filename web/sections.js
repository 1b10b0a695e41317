// Everything the page shows once a vault is open: the credentials, machines and runners,
// revisions, the audit trail, the pairing inbox, settings and teams. app.js imports this
// once the vault engine is ready (or on the first unlock, if that comes sooner), so none
// of it is fetched, compiled or run while the page and the engine are starting
// (docs/performance.md, "Web").
import { initAudit } from "./audit.js";
import { initDevices, openPairing } from "./devices.js";
import { initHistory, recoverNewest } from "./history.js";
import { initInbox, setWaiting } from "./inbox.js";
import { focusItems, hideRevealed, initItems } from "./items.js";
import { initSettings } from "./settings.js";
import "./teams.js";

export { focusItems, hideRevealed, openPairing, recoverNewest, setWaiting };

export function initSections({ isUnlocked }) {
  initItems();
  initDevices({ isUnlocked });
  initHistory();
  initAudit();
  initInbox();
  initSettings();
}
