//! Milky (SaltifyDev/milky), the protocol of LagrangeV2 and other newer
//! implementations, mapped to and from OneBot v11: segments, events and
//! actions, both ways, without I/O. docs/MILKY.md has the table.
//!
//! Milky names a message by (scene, peer, seq); v11 by one int32 id. The
//! upstream side mints ids through [`MessageIds`]; the listener side uses a
//! v11 message id as the seq itself.

pub mod api;
pub mod event;
pub mod segment;

/// The protocol version this gateway speaks (`get_impl_info.milky_version`).
pub const VERSION: &str = "1.2";

/// Milky's `message_scene`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scene {
    /// A friend chat.
    Friend,
    /// A group chat.
    Group,
    /// A temporary chat (with a group member who is not a friend).
    Temp,
}

impl Scene {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Friend => "friend",
            Self::Group => "group",
            Self::Temp => "temp",
        }
    }

    /// Reads a wire name.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "friend" => Self::Friend,
            "group" => Self::Group,
            "temp" => Self::Temp,
            _ => return None,
        })
    }

    /// A number for the id table.
    pub fn code(self) -> i64 {
        match self {
            Self::Friend => 1,
            Self::Group => 2,
            Self::Temp => 3,
        }
    }

    /// The scene of an id-table number.
    pub fn from_code(code: i64) -> Option<Self> {
        Some(match code {
            1 => Self::Friend,
            2 => Self::Group,
            3 => Self::Temp,
            _ => return None,
        })
    }
}

/// The v11 message ids of one Milky bot.
pub trait MessageIds {
    /// The v11 id of the message (minted on first sight).
    fn id_of(&self, scene: Scene, peer: i64, seq: i64) -> i64;
    /// The message behind a v11 id: (scene, peer, seq).
    fn message(&self, id: i64) -> Option<(Scene, i64, i64)>;
}
