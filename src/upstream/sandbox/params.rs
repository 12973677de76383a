//! The one failure type every sandbox operation returns (params arrive
//! typed: `protocol::action` read them).

use serde_json::Value;

use crate::protocol::{retcode, Response};

/// Why a sandbox operation failed: a retcode and a message naming the problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fail {
    /// 1400 bad params, 1403 not allowed, 1404 unknown id or action, 1500 store.
    pub retcode: i64,
    /// What went wrong, naming the field or id.
    pub message: String,
}

impl Fail {
    /// A bad param (1400) naming the field.
    pub fn bad(field: &str, expected: impl std::fmt::Display) -> Self {
        Self {
            retcode: retcode::BAD_REQUEST,
            message: format!("invalid param `{field}`: {expected}"),
        }
    }

    /// A request that makes no sense in the current state (1400).
    pub fn invalid(message: impl Into<String>) -> Self {
        Self {
            retcode: retcode::BAD_REQUEST,
            message: message.into(),
        }
    }

    /// An unknown id (1404): `unknown group 123`.
    pub fn unknown(kind: &str, id: impl std::fmt::Display) -> Self {
        Self {
            retcode: retcode::NOT_FOUND,
            message: format!("unknown {kind} {id}"),
        }
    }

    /// Not allowed (1403), e.g. the bot is not an admin.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self {
            retcode: retcode::FORBIDDEN,
            message: message.into(),
        }
    }

    /// The failed response frame for this failure.
    pub fn response(&self) -> Response {
        Response::failed(self.retcode, self.message.clone())
    }

    /// The HTTP status the injection API answers with.
    pub fn http_status(&self) -> u16 {
        match self.retcode {
            retcode::BAD_REQUEST => 400,
            retcode::FORBIDDEN => 403,
            retcode::NOT_FOUND => 404,
            _ => 500,
        }
    }
}

impl From<rusqlite::Error> for Fail {
    fn from(e: rusqlite::Error) -> Self {
        Self {
            retcode: retcode::INTERNAL,
            message: format!("sandbox store: {e}"),
        }
    }
}

impl From<crate::protocol::action::ParamError> for Fail {
    fn from(e: crate::protocol::action::ParamError) -> Self {
        Self::invalid(e.to_string())
    }
}

/// The result of every sandbox operation.
pub type Out<T = Value> = Result<T, Fail>;
