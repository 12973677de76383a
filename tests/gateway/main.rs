//! Integration tests of the gateway core: real sockets on 127.0.0.1, the
//! gateway started in-process on port 0, apps and upstreams played by
//! tokio-tungstenite peers.

mod alerts;
mod cli;
mod common;
mod crash;
mod delivery;
mod dispatcher;
mod forward;
mod hostile;
mod http_api;
mod http_post;
mod links;
mod milky;
mod pools;
mod rawws;
mod reload;
mod reverse;
mod upstream;
mod virtual_time;
