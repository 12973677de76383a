//! OneBot implementations over WebSocket: `ws` (the gateway dials their
//! forward WS server) and `ws-reverse` (they dial the gateway's upstream
//! endpoint).
