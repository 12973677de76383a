//! Actions that would need an outside service (OCR, translation, URL
//! safety, word slicing, ark cards, downloads, media lookup). The sandbox
//! answers them with deterministic results whose rules are documented in
//! docs/SANDBOX.md; nothing leaves the machine.

use base64::Engine as _;
use serde_json::{json, Value};

use crate::protocol::action::{
    ArkShareGroupEx, ArkSharePeer, CheckUrlSafely, DownloadFile, GetImage, GetRecord,
    GetWordSlices, OcrImage, TranslateEn2zh,
};
use crate::upstream::sandbox::params::{Fail, Out};
use crate::upstream::sandbox::store::{file_name, fnv, media_url, Ctx};

/// Where the sandbox pretends its cache lives (nothing is written there).
pub const CACHE_DIR: &str = "/sandbox/cache";

/// The text an "image" holds: decoded base64 text, or the words of its file name.
pub fn ocr_text(image: &str) -> String {
    if let Some(data) = image.strip_prefix("base64://") {
        if let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(data.trim()) {
            if let Ok(text) = String::from_utf8(bytes) {
                if !text.trim().is_empty() && !text.chars().any(|c| c.is_control() && c != '\n') {
                    return text.trim().to_owned();
                }
            }
        }
        return String::new();
    }
    let name = file_name(image);
    let stem = name.rsplit_once('.').map_or(name.as_str(), |(s, _)| s);
    stem.split(['_', '-', '+', ' '])
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Refuses an empty or blank string param.
fn nonempty<'a>(field: &str, value: &'a str) -> Out<&'a str> {
    if value.trim().is_empty() {
        return Err(Fail::bad(field, "must not be empty"));
    }
    Ok(value)
}

/// `ocr_image` / `.ocr_image`.
pub fn ocr(_ctx: &mut Ctx<'_>, p: &OcrImage) -> Out {
    let text = ocr_text(nonempty("image", &p.image)?);
    let texts: Vec<Value> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .enumerate()
        .map(|(i, line)| {
            let (w, top) = (line.chars().count() as i64 * 16, i as i64 * 24);
            json!({"text": line, "confidence": 100,
                   "coordinates": [{"x": 0, "y": top}, {"x": w, "y": top}, {"x": w, "y": top + 20}, {"x": 0, "y": top + 20}]})
        })
        .collect();
    let language = if text.is_ascii() { "en" } else { "zh" };
    Ok(json!({"texts": texts, "language": language}))
}

const GLOSSARY: &[(&str, &str)] = &[
    ("hello", "你好"),
    ("hi", "嗨"),
    ("world", "世界"),
    ("good", "好"),
    ("morning", "早上"),
    ("night", "晚上"),
    ("thank", "谢谢"),
    ("thanks", "谢谢"),
    ("you", "你"),
    ("i", "我"),
    ("we", "我们"),
    ("they", "他们"),
    ("love", "爱"),
    ("cat", "猫"),
    ("dog", "狗"),
    ("bot", "机器人"),
    ("robot", "机器人"),
    ("message", "消息"),
    ("group", "群"),
    ("friend", "朋友"),
    ("friends", "朋友们"),
    ("yes", "是"),
    ("no", "不"),
    ("and", "和"),
    ("the", ""),
    ("a", "一个"),
    ("is", "是"),
    ("are", "是"),
    ("test", "测试"),
    ("sandbox", "沙盒"),
    ("file", "文件"),
    ("image", "图片"),
    ("happy", "快乐"),
    ("new", "新"),
    ("year", "年"),
];

/// Word-by-word translation through a small glossary; unknown words stay.
pub fn translate(text: &str) -> String {
    let mut out = String::new();
    for word in text.split_whitespace() {
        let bare: String = word.chars().filter(|c| c.is_alphanumeric()).collect();
        let lower = bare.to_lowercase();
        match GLOSSARY.iter().find(|(en, _)| *en == lower) {
            Some((_, zh)) => out.push_str(zh),
            None => {
                if !out.is_empty() && !out.ends_with(' ') {
                    out.push(' ');
                }
                out.push_str(word);
                out.push(' ');
            }
        }
        let punct: String = word
            .chars()
            .rev()
            .take_while(|c| !c.is_alphanumeric())
            .collect();
        out.push_str(
            &punct
                .chars()
                .rev()
                .collect::<String>()
                .replace('!', "！")
                .replace('?', "？")
                .replace(',', "，")
                .replace('.', "。"),
        );
    }
    out.trim().to_owned()
}

/// `translate_en2zh`.
pub fn translate_action(_ctx: &mut Ctx<'_>, p: &TranslateEn2zh) -> Out {
    Ok(json!(p
        .words
        .iter()
        .map(|w| translate(w))
        .collect::<Vec<_>>()))
}

const SAFE_HOSTS: &[&str] = &[
    "qq.com",
    "tencent.com",
    "github.com",
    "onebot.dev",
    "bilibili.com",
    "baidu.com",
];
const DANGER_WORDS: &[&str] = &["phish", "malware", "virus", "scam", "trojan"];

/// The safety level of a URL: 1 safe, 2 unknown, 3 dangerous.
pub fn url_level(url: &str) -> i64 {
    let lower = url.to_ascii_lowercase();
    let Some(rest) = lower
        .strip_prefix("https://")
        .or_else(|| lower.strip_prefix("http://"))
    else {
        return 2;
    };
    let host = rest.split(['/', '?', '#', ':']).next().unwrap_or("");
    if DANGER_WORDS.iter().any(|w| host.contains(w)) {
        3
    } else if SAFE_HOSTS
        .iter()
        .any(|s| host == *s || host.ends_with(&format!(".{s}")))
    {
        1
    } else {
        2
    }
}

/// `check_url_safely`.
pub fn check_url(_ctx: &mut Ctx<'_>, p: &CheckUrlSafely) -> Out {
    Ok(json!({"level": url_level(nonempty("url", &p.url)?)}))
}

/// Slices text into words: ASCII words and numbers whole, CJK text in pairs.
pub fn word_slices(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut ascii = String::new();
    let mut cjk: Vec<char> = Vec::new();
    let flush_cjk = |cjk: &mut Vec<char>, out: &mut Vec<String>| {
        for pair in cjk.chunks(2) {
            out.push(pair.iter().collect());
        }
        cjk.clear();
    };
    for c in text.chars() {
        if c.is_ascii_alphanumeric() {
            flush_cjk(&mut cjk, &mut out);
            ascii.push(c);
        } else if c.is_alphanumeric() {
            if !ascii.is_empty() {
                out.push(std::mem::take(&mut ascii));
            }
            cjk.push(c);
        } else {
            if !ascii.is_empty() {
                out.push(std::mem::take(&mut ascii));
            }
            flush_cjk(&mut cjk, &mut out);
        }
    }
    if !ascii.is_empty() {
        out.push(ascii);
    }
    flush_cjk(&mut cjk, &mut out);
    out
}

/// `.get_word_slices`.
pub fn slices(_ctx: &mut Ctx<'_>, p: &GetWordSlices) -> Out {
    Ok(json!({"slices": word_slices(&p.content)}))
}

fn ark(prompt: &str, meta: Value) -> String {
    json!({"app": "com.tencent.contact.lua", "desc": "", "view": "contact", "ver": "0.0.0.1",
           "prompt": prompt, "meta": meta, "config": {"autosize": true, "type": "normal"}})
    .to_string()
}

/// `ArkSharePeer`: a contact card for a user or a group.
pub fn ark_share_peer(ctx: &mut Ctx<'_>, p: &ArkSharePeer) -> Out {
    let json = match (p.user_id, p.group_id) {
        (Some(u), None) => {
            let nick = ctx.known_person(u)?.0;
            ark(
                &format!("推荐联系人：{nick}"),
                json!({"contact": {"nickname": nick, "tag": "推荐联系人", "contact": format!("QQ号：{u}"),
                                   "avatar": format!("http://sandbox.invalid/avatar/{u}"),
                                   "jumpUrl": format!("https://sandbox.invalid/user/{u}")}}),
            )
        }
        (None, Some(g)) => group_ark(ctx, g)?,
        (Some(_), Some(_)) => {
            return Err(Fail::bad(
                "group_id",
                "give either `user_id` or `group_id`, not both",
            ))
        }
        // The protocol already refuses this.
        (None, None) => return Err(Fail::bad("user_id", "missing")),
    };
    Ok(json!({"errCode": 0, "errMsg": "", "arkJson": json}))
}

fn group_ark(ctx: &Ctx<'_>, g: i64) -> Out<String> {
    let group = ctx.group(g)?;
    Ok(ark(
        &format!("推荐群聊：{}", group.name),
        json!({"contact": {"nickname": group.name, "tag": "推荐群聊", "contact": format!("群号：{g}"),
                           "avatar": format!("http://sandbox.invalid/group-avatar/{g}"),
                           "jumpUrl": format!("https://sandbox.invalid/group/{g}")}}),
    ))
}

/// `ArkShareGroupEx`: the group card's ark JSON text.
pub fn ark_share_group(ctx: &mut Ctx<'_>, p: &ArkShareGroupEx) -> Out {
    Ok(json!(group_ark(ctx, p.group_id)?))
}

/// `download_file`: nothing is fetched; the answer names the cache path the
/// file would have (see docs/SANDBOX.md).
pub fn download(ctx: &mut Ctx<'_>, p: &DownloadFile) -> Out {
    let url = p.url.as_deref().filter(|u| !u.is_empty());
    let b64 = p.base64.as_deref().filter(|b| !b.is_empty());
    let source = match (url, b64) {
        (Some(u), _) => {
            if !(u.starts_with("http://") || u.starts_with("https://")) {
                return Err(Fail::bad("url", "expected an http:// or https:// URL"));
            }
            u.to_owned()
        }
        (None, Some(b)) => format!("base64://{b}"),
        (None, None) => return Err(Fail::bad("url", "missing; give `url` or `base64`")),
    };
    if !(1..=64).contains(&p.thread_count.unwrap_or(1)) {
        return Err(Fail::bad("thread_count", "expected 1 to 64"));
    }
    let name = match p.name.as_deref() {
        Some(n) if !n.is_empty() => n.to_owned(),
        _ => format!("{:016x}", fnv(source.as_bytes())),
    };
    Ok(
        json!({"file": format!("{CACHE_DIR}/download/{name}"), "size": ctx.files.media_size(&source)?}),
    )
}

fn find_media(ctx: &Ctx<'_>, kind: &str, file: &str) -> Out<(String, String, i64)> {
    let by_file = rusqlite::OptionalExtension::optional(ctx.db.query_row(
        "SELECT file, url, size FROM media WHERE self_id=?1 AND kind=?2 AND (file=?3 OR url=?3)",
        rusqlite::params![ctx.self_id, kind, file],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    ))?;
    if let Some(found) = by_file {
        return Ok(found);
    }
    // Also accept the bare file name of a stored path or URL.
    let mut stmt = ctx
        .db
        .prepare("SELECT file, url, size FROM media WHERE self_id=?1 AND kind=?2")?;
    let rows: Vec<(String, String, i64)> = stmt
        .query_map(rusqlite::params![ctx.self_id, kind], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })?
        .collect::<Result<_, _>>()?;
    rows.into_iter()
        .find(|(f, _, _)| file_name(f) == file)
        .ok_or_else(|| Fail::unknown(kind, file))
}

/// `get_image`: an image that appeared in a stored message.
pub fn get_image(ctx: &mut Ctx<'_>, p: &GetImage) -> Out {
    let (stored, url, size) = find_media(ctx, "image", nonempty("file", &p.file)?)?;
    let name = file_name(&stored);
    Ok(
        json!({"file": format!("{CACHE_DIR}/image/{name}"), "filename": name, "size": size,
              "url": if url.is_empty() { media_url("image", &stored) } else { url }}),
    )
}

/// `get_record`: a voice message that appeared in a stored message, "converted".
pub fn get_record(ctx: &mut Ctx<'_>, p: &GetRecord) -> Out {
    // `out_format` is one of the standard's formats (a protocol check).
    let format = p.out_format.as_str();
    let (stored, url, size) = find_media(ctx, "record", nonempty("file", &p.file)?)?;
    let name = file_name(&stored);
    let stem = name.rsplit_once('.').map_or(name.as_str(), |(s, _)| s);
    Ok(
        json!({"file": format!("{CACHE_DIR}/record/{stem}.{format}"), "url": url, "size": size,
              "file_name": format!("{stem}.{format}")}),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_are_deterministic() {
        assert_eq!(ocr_text("http://x/hello_world.png"), "hello world");
        assert_eq!(ocr_text("base64://aGVsbG8gdGhlcmU="), "hello there");
        assert_eq!(translate("hello world!"), "你好世界！");
        assert_eq!(translate("hello Kitty"), "你好 Kitty");
        assert_eq!(url_level("https://im.qq.com/x"), 1);
        assert_eq!(url_level("http://free-phishing.example/"), 3);
        assert_eq!(url_level("https://example.org"), 2);
        assert_eq!(url_level("ftp://qq.com"), 2);
        assert_eq!(
            word_slices("今天天气good 123很好"),
            vec!["今天", "天气", "good", "123", "很好"]
        );
        assert_eq!(super::super::account::csrf_token("@abc"), 2088882539);
    }
}
