//! `onebot-gateway import`: an implementation's OneBot config (go-cqhttp
//! `config.yml`, NapCat `onebot11_<uin>.json`, Lagrange.OneBot
//! `appsettings.json`, LLOneBot `config_<uin>.json`) as this gateway's TOML.
//!
//! The gateway goes between the implementation and the frameworks, so each
//! connection of the old set-up becomes two: a server the frameworks dialled
//! becomes a `type = "ws"` upstream (the gateway dials the implementation)
//! plus the gateway's own `[[listen]]` (the frameworks dial the gateway,
//! same token); a reverse WebSocket the implementation dialled becomes a
//! `[[reverse]]` target (the gateway dials the framework) plus a
//! `ws-reverse` upstream (the implementation dials the gateway); an HTTP
//! POST target becomes the gateway's `[[http_post]]`. What has no
//! equivalent is listed, with why. docs/MIGRATING.md has the table.

use serde_json::Value;

/// Which implementation wrote the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Source {
    /// go-cqhttp `config.yml`.
    #[value(name = "go-cqhttp")]
    GoCqhttp,
    /// NapCat `onebot11_<uin>.json`.
    Napcat,
    /// Lagrange.OneBot `appsettings.json`.
    Lagrange,
    /// LLOneBot `config_<uin>.json` (the `ob11.connect` layout and the older ones).
    Llonebot,
}

/// The converted configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Imported {
    /// The gateway's TOML, with comments saying what to change where.
    pub toml: String,
    /// What had no equivalent, each with why.
    pub skipped: Vec<String>,
}

/// The port the gateway listens on for apps, and the one implementations dial.
const APPS: &str = "127.0.0.1:6700";
const DIAL_IN: &str = "127.0.0.1:6701";

#[derive(Default)]
struct Out {
    gateway: Vec<String>,
    listen_token: Option<String>,
    listen_app: Vec<String>,
    upstreams: Vec<String>,
    dial_in_tokens: Vec<String>,
    dial_in_enabled: bool,
    dial_in_wanted: bool,
    tables: Vec<String>,
    skipped: Vec<String>,
    notes: Vec<String>,
}

fn q(s: &str) -> String {
    toml::Value::String(s.to_owned()).to_string()
}

fn text(v: &Value, key: &str) -> String {
    match v.get(key) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    }
}

fn int(v: &Value, key: &str) -> Option<i64> {
    v.get(key).and_then(|x| {
        x.as_i64()
            .or_else(|| x.as_str().and_then(|s| s.trim().parse().ok()))
    })
}

fn on(v: &Value, key: &str, default: bool) -> bool {
    match v.get(key) {
        Some(Value::Bool(b)) => *b,
        // .NET's config reader keeps JSON booleans as "True"/"False" strings.
        Some(Value::String(s)) => !s.eq_ignore_ascii_case("false"),
        _ => default,
    }
}

/// A listen host as an address to dial from this machine.
fn dial_host(host: &str) -> String {
    match host.trim() {
        "" | "0.0.0.0" | "::" | "[::]" | "*" | "+" | "localhost" => String::from("127.0.0.1"),
        h => h.to_owned(),
    }
}

impl Out {
    /// The implementation serves forward WebSocket at `host:port`: the
    /// gateway dials it, and the frameworks that dialled it dial the gateway.
    fn ws_server(&mut self, what: &str, host: &str, port: i64, token: &str, enabled: bool) {
        let mut t = format!(
            "[[upstream]]                       # {what}: the gateway dials it now\ntype = \"ws\"\nurl = {}\n",
            q(&format!("ws://{}:{port}/", dial_host(host)))
        );
        if !token.is_empty() {
            t += &format!("access_token = {}\n", q(token));
            self.listen_token.get_or_insert_with(|| token.to_owned());
        }
        if !enabled {
            t += "enable = false                     # off in the implementation's file too\n";
        }
        self.upstreams.push(t);
        if enabled {
            self.notes.push(format!(
                "{what}: point the frameworks that dialled ws://{host}:{port}/ at ws://{APPS}/ (the gateway) instead"
            ));
        }
    }

    /// The implementation dials a framework at `url` (reverse WebSocket):
    /// the gateway dials the framework, the implementation dials the gateway.
    fn ws_client(
        &mut self,
        what: &str,
        urls: (&str, &str, &str),
        token: &str,
        reconnect_ms: Option<i64>,
        enabled: bool,
    ) {
        let (universal, api, event) = urls;
        if [universal, api, event]
            .iter()
            .any(|u| u.starts_with("wss://"))
        {
            self.skipped.push(format!(
                "{what}: `wss://` (TLS is not built in yet): dial the framework through a TLS-terminating proxy, or over ws://"
            ));
            return;
        }
        let mut t = format!(
            "[[reverse]]                        # {what}: the gateway dials the framework now\n"
        );
        if !universal.is_empty() {
            t += &format!("url = {}\n", q(universal));
        } else if !api.is_empty() && !event.is_empty() {
            t += &format!("api_url = {}\nevent_url = {}\n", q(api), q(event));
        } else {
            self.skipped.push(format!("{what}: no URL to dial"));
            return;
        }
        if !token.is_empty() {
            t += &format!("access_token = {}\n", q(token));
            self.dial_in_tokens.push(token.to_owned());
        }
        if let Some(ms) = reconnect_ms.filter(|ms| *ms > 0) {
            t += &format!(
                "reconnect_interval_ms = {ms}\nmax_reconnect_interval_ms = {}\n",
                ms.max(30_000)
            );
        }
        if !self.listen_app.is_empty() {
            t += &format!("app = {{ {} }}\n", self.listen_app.join(", "));
        }
        if !enabled {
            t += "enable = false\n";
        }
        self.tables.push(t);
        self.dial_in_wanted = true;
        self.dial_in_enabled |= enabled;
        if enabled {
            self.notes.push(format!(
                "{what}: set the implementation's reverse WebSocket URL to ws://{DIAL_IN}/ (the gateway), which dials {} for it",
                if universal.is_empty() { api } else { universal }
            ));
        }
    }

    /// The implementation POSTs events to `url`: the gateway does it now.
    fn http_post(
        &mut self,
        what: &str,
        url: &str,
        secret: &str,
        timeout_s: Option<i64>,
        enabled: bool,
    ) {
        if url.is_empty() || !url.starts_with("http://") {
            self.skipped.push(format!(
                "{what}: `{url}` is not an http:// URL the gateway can POST to (https needs a TLS-terminating proxy)"
            ));
            return;
        }
        let mut t = format!("[[http_post]]                      # {what}: the gateway POSTs the events now\nurl = {}\n", q(url));
        if !secret.is_empty() {
            t += &format!("secret = {}\n", q(secret));
        }
        if let Some(s) = timeout_s.filter(|s| *s > 0) {
            t += &format!("timeout_ms = {}\n", s * 1000);
        }
        if !self.listen_app.is_empty() {
            t += &format!("app = {{ {} }}\n", self.listen_app.join(", "));
        }
        if !enabled {
            t += "enable = false\n";
        }
        self.tables.push(t);
        self.notes.push(format!(
            "{what}: turn it off in the implementation (the gateway POSTs each event, signed the same way)"
        ));
    }

    fn http_server(&mut self, what: &str, host: &str, port: i64) {
        self.skipped.push(format!(
            "{what} ({host}:{port}): the gateway does not use an implementation's HTTP API; turn on its WebSocket server or client instead. Frameworks that called it can call the gateway's HTTP API at http://{APPS}/"
        ));
    }

    fn render(self, source: &str, file: &str) -> Imported {
        let mut s = format!(
            "# Imported from {source} `{file}` by `onebot-gateway import`.\n\
             # Check it with `onebot-gateway check-config FILE`; what to change where is below.\n"
        );
        for n in &self.notes {
            s += &format!("#   - {n}\n");
        }
        for n in &self.skipped {
            s += &format!("#   not imported: {n}\n");
        }
        if !self.gateway.is_empty() {
            s += &format!("\n[gateway]\n{}\n", self.gateway.join("\n"));
        }
        s += &format!("\n[[listen]]                         # frameworks (NoneBot2, Koishi…) dial the gateway here\naddress = {}\n", q(APPS));
        if let Some(t) = &self.listen_token {
            s += &format!("access_token = {}\n", q(t));
        }
        if !self.listen_app.is_empty() {
            s += &format!("app = {{ {} }}\n", self.listen_app.join(", "));
        }
        for u in &self.upstreams {
            s += &format!("\n{u}");
        }
        if self.dial_in_wanted {
            s += &format!("\n[[upstream]]                       # the implementation dials the gateway here\ntype = \"ws-reverse\"\naddress = {}\n", q(DIAL_IN));
            if let Some(t) = self.dial_in_tokens.first() {
                s += &format!("access_token = {}\n", q(t));
            }
            if !self.dial_in_enabled {
                s += "enable = false\n";
            }
        }
        for t in &self.tables {
            s += &format!("\n{t}");
        }
        Imported {
            toml: s,
            skipped: self.skipped,
        }
    }
}

/// Reads JSON, or .NET's JSON with `//` comments.
fn json(text: &str) -> Result<Value, String> {
    serde_json::from_str(text).or_else(|first| {
        let stripped: String = text
            .lines()
            .filter(|l| !l.trim_start().starts_with("//"))
            .collect::<Vec<_>>()
            .join("\n");
        serde_json::from_str(&stripped).map_err(|_| format!("not JSON: {first}"))
    })
}

/// Converts the file `text` (named `file`, whose name may hold the account).
///
/// # Errors
/// The file is not what `source` writes (not YAML/JSON, or no OneBot part).
pub fn import(source: Source, text: &str, file: &str) -> Result<Imported, String> {
    let mut out = Out::default();
    match source {
        Source::GoCqhttp => go_cqhttp(text, &mut out)?,
        Source::Napcat => napcat(&json(text)?, &mut out)?,
        Source::Lagrange => lagrange(&json(text)?, &mut out)?,
        Source::Llonebot => llonebot(&json(text)?, &mut out)?,
    }
    let name = match source {
        Source::GoCqhttp => "go-cqhttp",
        Source::Napcat => "NapCat",
        Source::Lagrange => "Lagrange.OneBot",
        Source::Llonebot => "LLOneBot",
    };
    Ok(out.render(name, file))
}

fn go_cqhttp(file_text: &str, out: &mut Out) -> Result<(), String> {
    let mut yaml: serde_yaml::Value =
        serde_yaml::from_str(file_text).map_err(|e| format!("not YAML: {e}"))?;
    yaml.apply_merge()
        .map_err(|e| format!("YAML merge keys: {e}"))?;
    let v = serde_json::to_value(&yaml).map_err(|e| format!("unsupported YAML: {e}"))?;
    if let Some(s) = int(&v["heartbeat"], "interval") {
        if s > 0 {
            out.gateway.push(format!(
                "heartbeat_interval_ms = {}            # heartbeat.interval: {s} s",
                s * 1000
            ));
        } else {
            out.skipped.push(String::from(
                "heartbeat.interval ≤ 0 (no heartbeats): the gateway always sends them to apps",
            ));
        }
    }
    // go-cqhttp posts CQ strings unless told otherwise.
    let format = match text_or(&v["message"], "post-format", "string").as_str() {
        "array" => "array",
        _ => "string",
    };
    out.listen_app.push(format!("post_format = \"{format}\""));
    if on(&v["message"], "report-self-message", false) {
        out.listen_app.push(String::from("message_sent = true"));
    }
    let servers = v
        .get("servers")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut rate_limited = false;
    for (i, entry) in servers.iter().enumerate() {
        let Some((kind, s)) = entry.as_object().and_then(|o| o.iter().next()) else {
            continue;
        };
        let what = format!("servers[{i}].{kind}");
        let enabled = !on(s, "disabled", false);
        let mw = &s["middlewares"];
        let token = text(mw, "access-token");
        if on(&mw["rate-limit"], "enabled", false) && !rate_limited {
            rate_limited = true;
            let rate = mw["rate-limit"]["frequency"].as_f64().unwrap_or(1.0);
            let burst = int(&mw["rate-limit"], "bucket").unwrap_or(1);
            out.gateway.push(format!(
                "actions_per_second = {rate:?}         # {what} rate-limit frequency"
            ));
            out.gateway.push(format!(
                "action_burst = {burst}                  # {what} rate-limit bucket"
            ));
        }
        if !text(mw, "filter").is_empty() {
            out.skipped.push(format!(
                "{what}.middlewares.filter `{}`: copy the file and set `app = {{ filter = \"...\" }}` on the listener (same format)",
                text(mw, "filter")
            ));
        }
        match kind.as_str() {
            "ws" => {
                let address = text(s, "address");
                let (host, port) = address.rsplit_once(':').unwrap_or((&address, "8080"));
                out.ws_server(&what, host, port.parse().unwrap_or(8080), &token, enabled);
            }
            "ws-reverse" => {
                let reconnect = int(s, "reconnect-interval");
                let placeholder = |u: String| {
                    if u.contains("your_websocket") {
                        String::new()
                    } else {
                        u
                    }
                };
                let (u, a, e) = (
                    placeholder(text(s, "universal")),
                    placeholder(text(s, "api")),
                    placeholder(text(s, "event")),
                );
                if u.is_empty() && (a.is_empty() || e.is_empty()) {
                    out.skipped.push(format!("{what}: only the template's placeholder URLs (ws://your_websocket_…); fill in the framework's URL"));
                    continue;
                }
                out.ws_client(&what, (&u, &a, &e), &token, reconnect, enabled);
            }
            "http" => {
                let address = text(s, "address");
                let (host, port) = address.rsplit_once(':').unwrap_or((&address, "5700"));
                out.http_server(&what, host, port.parse().unwrap_or(5700));
                for (j, p) in s
                    .get("post")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .enumerate()
                {
                    out.http_post(
                        &format!("{what}.post[{j}]"),
                        &text(p, "url"),
                        &text(p, "secret"),
                        int(s, "timeout"),
                        enabled,
                    );
                }
            }
            other => out.skipped.push(format!(
                "{what}: `{other}` servers have no gateway counterpart"
            )),
        }
    }
    Ok(())
}

fn text_or(v: &Value, key: &str, default: &str) -> String {
    let t = text(v, key);
    if t.is_empty() {
        default.to_owned()
    } else {
        t
    }
}

fn napcat(v: &Value, out: &mut Out) -> Result<(), String> {
    let net = v
        .get("network")
        .ok_or("no `network` object: not a NapCat onebot11 file")?;
    let list = |k: &str| {
        net.get(k)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    let mut formats = Vec::new();
    for (i, s) in list("websocketServers").iter().enumerate() {
        let what = format!("network.websocketServers[{i}] `{}`", text(s, "name"));
        formats.push(text_or(s, "messagePostFormat", "array"));
        out.ws_server(
            &what,
            &text_or(s, "host", "127.0.0.1"),
            int(s, "port").unwrap_or(3001),
            &text(s, "token"),
            on(s, "enable", false),
        );
    }
    set_app(
        out,
        &formats,
        list("websocketServers")
            .iter()
            .chain(&list("websocketClients"))
            .any(|s| on(s, "reportSelfMessage", false)),
    );
    for (i, s) in list("websocketClients").iter().enumerate() {
        let what = format!("network.websocketClients[{i}] `{}`", text(s, "name"));
        out.ws_client(
            &what,
            (&text(s, "url"), "", ""),
            &text(s, "token"),
            int(s, "reconnectInterval"),
            on(s, "enable", false),
        );
    }
    for (i, s) in list("httpServers")
        .iter()
        .chain(&list("httpSseServers"))
        .enumerate()
    {
        let what = format!("network.httpServers[{i}] `{}`", text(s, "name"));
        if on(s, "enableWebsocket", false) {
            out.ws_server(
                &what,
                &text_or(s, "host", "127.0.0.1"),
                int(s, "port").unwrap_or(3000),
                &text(s, "token"),
                on(s, "enable", false),
            );
        } else {
            out.http_server(&what, &text(s, "host"), int(s, "port").unwrap_or(3000));
        }
    }
    for (i, s) in list("httpClients").iter().enumerate() {
        // NapCat signs HTTP POST bodies with the entry's token.
        let what = format!("network.httpClients[{i}] `{}`", text(s, "name"));
        out.http_post(
            &what,
            &text(s, "url"),
            &text(s, "token"),
            None,
            on(s, "enable", false),
        );
    }
    if !list("plugins").is_empty() {
        out.skipped.push(String::from(
            "network.plugins: NapCat's in-process plugins stay in NapCat",
        ));
    }
    Ok(())
}

/// The listener's delivery options from the entries' formats.
fn set_app(out: &mut Out, formats: &[String], self_messages: bool) {
    if formats.iter().any(|f| f == "string") {
        out.listen_app
            .push(String::from("post_format = \"string\""));
    }
    if self_messages {
        out.listen_app.push(String::from("message_sent = true"));
    }
}

fn lagrange(v: &Value, out: &mut Out) -> Result<(), String> {
    let list = v
        .get("Implementations")
        .and_then(Value::as_array)
        .ok_or("no `Implementations` array: not a Lagrange.OneBot appsettings.json")?;
    if on(&v["Message"], "StringPost", false) {
        out.listen_app
            .push(String::from("post_format = \"string\""));
    }
    if !on(&v["Message"], "IgnoreSelf", true) {
        out.listen_app.push(String::from("message_sent = true"));
    }
    for (i, s) in list.iter().enumerate() {
        let kind = text(s, "Type");
        let what = format!("Implementations[{i}] ({kind})");
        let enabled = on(s, "Enable", true);
        let token = text(s, "AccessToken");
        match kind.as_str() {
            "ForwardWebSocket" => out.ws_server(
                &what,
                &text(s, "Host"),
                int(s, "Port").unwrap_or(8081),
                &token,
                enabled,
            ),
            "ReverseWebSocket" => {
                let suffix = text(s, "Suffix");
                let url = format!(
                    "ws://{}:{}{}",
                    text_or(s, "Host", "127.0.0.1"),
                    int(s, "Port").unwrap_or(8080),
                    if suffix.is_empty() { "/" } else { &suffix }
                );
                out.ws_client(
                    &what,
                    (&url, "", ""),
                    &token,
                    int(s, "ReconnectInterval"),
                    enabled,
                );
            }
            "HttpPost" => {
                let suffix = text(s, "Suffix");
                let url = format!(
                    "http://{}:{}{}",
                    text(s, "Host"),
                    int(s, "Port").unwrap_or(8080),
                    suffix
                );
                out.http_post(&what, &url, &text(s, "Secret"), None, enabled);
            }
            "Http" => out.http_server(&what, &text(s, "Host"), int(s, "Port").unwrap_or(8083)),
            other => out.skipped.push(format!("{what}: unknown type `{other}`")),
        }
    }
    Ok(())
}

fn llonebot(v: &Value, out: &mut Out) -> Result<(), String> {
    let ob = v
        .get("ob11")
        .ok_or("no `ob11` object: not an LLOneBot config")?;
    let all_on = on(ob, "enable", true);
    if let Some(connect) = ob.get("connect").and_then(Value::as_array) {
        let formats: Vec<String> = connect
            .iter()
            .map(|c| text_or(c, "messageFormat", "array"))
            .collect();
        set_app(
            out,
            &formats,
            connect.iter().any(|c| on(c, "reportSelfMessage", false)),
        );
        for (i, c) in connect.iter().enumerate() {
            let kind = text(c, "type");
            let what = format!("ob11.connect[{i}] ({kind})");
            let enabled = all_on && on(c, "enable", false);
            match kind.as_str() {
                "ws" => out.ws_server(
                    &what,
                    "127.0.0.1",
                    int(c, "port").unwrap_or(3001),
                    &text(c, "token"),
                    enabled,
                ),
                "ws-reverse" => {
                    let url = text(c, "url");
                    if url.is_empty() {
                        out.skipped.push(format!("{what}: no URL set"));
                    } else {
                        out.ws_client(&what, (&url, "", ""), &text(c, "token"), None, enabled);
                    }
                }
                "http" => out.http_server(&what, "127.0.0.1", int(c, "port").unwrap_or(3000)),
                "http-post" => {
                    let url = text(c, "url");
                    if url.is_empty() {
                        out.skipped.push(format!("{what}: no URL set"));
                    } else {
                        out.http_post(&what, &url, &text(c, "token"), None, enabled);
                    }
                }
                other => out.skipped.push(format!("{what}: unknown type `{other}`")),
            }
        }
        return Ok(());
    }
    // v5–v6: one token, ports and URL lists.
    let token = text(ob, "token");
    if ob.get("messagePostFormat").and_then(Value::as_str) == Some("string") {
        out.listen_app
            .push(String::from("post_format = \"string\""));
    }
    if on(ob, "enableWs", false) || ob.get("wsPort").is_some() {
        out.ws_server(
            "ob11.wsPort",
            "127.0.0.1",
            int(ob, "wsPort").unwrap_or(3001),
            &token,
            all_on && on(ob, "enableWs", false),
        );
    }
    for (i, u) in ob
        .get("wsReverseUrls")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let url = u.as_str().unwrap_or_default();
        out.ws_client(
            &format!("ob11.wsReverseUrls[{i}]"),
            (url, "", ""),
            &token,
            None,
            all_on && on(ob, "enableWsReverse", false),
        );
    }
    if ob.get("httpPort").is_some() {
        out.http_server(
            "ob11.httpPort",
            "127.0.0.1",
            int(ob, "httpPort").unwrap_or(3000),
        );
    }
    for (i, u) in ob
        .get("httpPostUrls")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        out.http_post(
            &format!("ob11.httpPostUrls[{i}]"),
            u.as_str().unwrap_or_default(),
            &text(ob, "httpSecret"),
            None,
            all_on && on(ob, "enableHttpPost", false),
        );
    }
    Ok(())
}
