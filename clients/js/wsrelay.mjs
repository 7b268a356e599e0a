// ES module entry of wsrelay.js. In a browser, importing wsrelay.js as a
// module runs it as a script that defines the globals; under Node it is a
// CommonJS module whose exports arrive as `default`.
import * as loaded from './wsrelay.js';

const api = loaded.default || { WS4Redis: globalThis.WS4Redis, WsRelay: globalThis.WsRelay };

export const WS4Redis = api.WS4Redis;
export const WsRelay = api.WsRelay;
export default WsRelay;
