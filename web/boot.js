// Starts the vault worker. A classic, parser-blocking script, first in <head>: it runs as
// soon as it has arrived, while an async module ran only once the parser yielded (after
// the first chunk of the page was parsed and laid out, 20-110 ms later), and Pyodide's
// load is what "ready to unlock" waits for. engine.js adopts the worker and the messages
// that arrived before it did (docs/web.md, "The Pyodide memory snapshot").
(() => {
  performance.mark("zkv-worker-start");
  const worker = new Worker(new URL("./worker.js", document.currentScript.src), {
    type: "module",
    name: "vault",
  });
  const early = [];
  const keep = (e) => early.push(e);
  worker.addEventListener("message", keep);
  worker.addEventListener("error", keep);
  self.zkvEarlyWorker = { worker, early, keep };
})();
