// Its own tiny module graph, loaded async: starts the vault worker as soon as engine.js
// has arrived, without waiting for the rest of the UI's modules.
import { startEngine } from "./engine.js";

startEngine();
