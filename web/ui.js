// Small interface parts shared by the sections: the in-app confirmation dialog (never the
// browser's confirm(), which cannot be styled, labelled or kept to the page's words) and
// the "⋯" menu of a row. Both work by keyboard alone.
import { $, el } from "./core.js";

// Resolves true when the person confirms, false on Cancel or Escape. Focus starts on
// Cancel (Enter twice never removes anything unread) and returns where it was.
export function confirmDialog({ title, body, confirm, danger = true }) {
  const dialog = $("confirm-dialog");
  const back = document.activeElement;
  $("confirm-title").textContent = title;
  $("confirm-body").textContent = body;
  $("confirm-ok").textContent = confirm;
  $("confirm-ok").className = danger ? "danger" : "primary";
  dialog.returnValue = "cancel";
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => {
      if (back && back.isConnected) back.focus();
      resolve(dialog.returnValue === "ok");
    }, { once: true });
    dialog.showModal();
    $("confirm-cancel").focus();
  });
}

let openMenu = null; // {button, list}: one menu open at a time

function closeMenu(refocus = true) {
  if (!openMenu) return;
  const { button, list } = openMenu;
  openMenu = null;
  list.hidden = true;
  button.setAttribute("aria-expanded", "false");
  if (refocus) button.focus();
}

// A "⋯" button with a menu of actions: [{label, text, run, danger}]. Arrow keys move,
// Escape closes, Tab leaves; choosing runs the action after the menu closed.
export function actionMenu(label, actions) {
  const id = `menu-${Math.random().toString(36).slice(2, 10)}`;
  const button = el("button", {
    type: "button", class: "small quiet more", "aria-haspopup": "menu", "aria-expanded": "false",
    "aria-controls": id, "aria-label": label, text: "⋯",
  });
  const list = el("ul", { class: "menu", role: "menu", id, "aria-label": label, hidden: true });
  const entries = actions.map((a) => {
    const item = el("button", {
      type: "button", role: "menuitem", tabindex: "-1", class: a.danger ? "danger-text" : "",
      "aria-label": a.label || a.text, text: a.text,
    });
    item.addEventListener("click", () => {
      closeMenu(false);
      button.focus();
      a.run();
    });
    list.append(el("li", { role: "none" }, item));
    return item;
  });
  const focusEntry = (i) => entries[(i + entries.length) % entries.length].focus();
  button.addEventListener("click", () => {
    if (openMenu?.button === button) return closeMenu();
    closeMenu(false);
    list.hidden = false;
    button.setAttribute("aria-expanded", "true");
    openMenu = { button, list };
    focusEntry(0);
  });
  button.addEventListener("keydown", (e) => {
    if (e.key === "ArrowDown" && openMenu?.button !== button) {
      e.preventDefault();
      button.click();
    }
  });
  list.addEventListener("keydown", (e) => {
    const at = entries.indexOf(document.activeElement);
    if (e.key === "ArrowDown") focusEntry(at + 1);
    else if (e.key === "ArrowUp") focusEntry(at - 1);
    else if (e.key === "Home") focusEntry(0);
    else if (e.key === "End") focusEntry(entries.length - 1);
    else if (e.key === "Escape") closeMenu();
    else if (e.key === "Tab") return closeMenu(false);
    else return;
    e.preventDefault();
    e.stopPropagation();
  });
  return el("div", { class: "menu-wrap" }, button, list);
}

document.addEventListener("pointerdown", (e) => {
  if (openMenu && !openMenu.list.parentElement.contains(e.target)) closeMenu(false);
});

// Copy text that is not a secret (a fingerprint, a command) and say so in `status`.
export async function copyText(text, status, what) {
  await navigator.clipboard.writeText(text);
  status.textContent = `${what} copied.`;
}
