// `sandbox serve`: go-judge's REST and WebSocket interface (docs/serve.md).
export { JudgeServer, type ServeOptions } from './server.js';
