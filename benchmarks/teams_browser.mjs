// Chromium entry: sets window.teamsBench = {setup(teamJson), once(op)} for teams.py (or
// window.teamsError). Pyodide, the vault_core wheel and crypto bound exactly as the web
// worker binds them (tests/pyodide/bind_crypto.mjs); the timed operations are
// benchmarks/teams_support/ops.py, the same code the native workers run, timed inside Python.
import { loadPyodide } from "/node_modules/pyodide/pyodide.mjs";
import sodium from "libsodium-wrappers-sumo";
import { bindCrypto } from "../tests/pyodide/bind_crypto.mjs";

const params = new URLSearchParams(location.search);
const bytes = async (url) => new Uint8Array(await (await fetch(url)).arrayBuffer());

try {
  const pyodide = await loadPyodide({ indexURL: "/node_modules/pyodide/" });
  const site = pyodide.runPython("import site; site.getsitepackages()[0]");
  pyodide.unpackArchive(await bytes(params.get("wheel")), "wheel", { extractDir: site });
  await bindCrypto(pyodide, {
    sodium,
    argon2Wasm: await bytes("/node_modules/@phi-ag/argon2/dist/argon2.wasm"),
  });
  pyodide.FS.writeFile(`${site}/teams_ops.py`, await bytes("/benchmarks/teams_support/ops.py"));
  window.teamsBench = {
    setup(text) {
      pyodide.globals.set("team_text", text);
      pyodide.runPython("import teams_ops; bench = teams_ops.TeamBench(team_text)");
    },
    once(op) {
      pyodide.globals.set("op", op);
      return JSON.parse(pyodide.runPython("import json; json.dumps(bench.once(op))"));
    },
  };
  document.getElementById("out").textContent = "ready";
} catch (err) {
  window.teamsError = String(err?.stack ?? err);
}
