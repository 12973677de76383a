//! The world description: bots, people, friends (with categories) and groups
//! (with members), read from a TOML or JSON world file or built in.

use std::collections::HashSet;
use std::path::Path;

use serde::{Deserialize, Serialize};

/// A whole world: the people in it and the sandbox bots that live there.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct World {
    /// Everyone who is not a bot; friends and members refer to them by id
    /// (an id not listed here gets the nickname `user<id>`).
    #[serde(default)]
    pub people: Vec<PersonSpec>,
    /// The sandbox bots (at least one).
    pub bots: Vec<BotSpec>,
}

/// A person (not a bot).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PersonSpec {
    /// QQ number.
    pub user_id: i64,
    /// Nickname.
    pub nickname: String,
    /// `male`, `female` or `unknown`.
    #[serde(default = "unknown")]
    pub sex: String,
    /// Age in years.
    #[serde(default)]
    pub age: i64,
    /// Area (region), free text.
    #[serde(default)]
    pub area: String,
    /// QQ level.
    #[serde(default = "one")]
    pub level: i64,
}

/// One sandbox bot.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct BotSpec {
    /// The bot's QQ number.
    pub self_id: i64,
    /// The bot's nickname.
    pub nickname: String,
    /// Signature (`set_self_longnick`).
    #[serde(default)]
    pub longnick: String,
    /// `male`, `female` or `unknown`.
    #[serde(default = "unknown")]
    pub sex: String,
    /// Age in years.
    #[serde(default)]
    pub age: i64,
    /// Friend categories; category 0 ("My Friends") always exists.
    #[serde(default)]
    pub categories: Vec<CategorySpec>,
    /// Friends.
    #[serde(default)]
    pub friends: Vec<FriendSpec>,
    /// Groups the bot is in.
    #[serde(default)]
    pub groups: Vec<GroupSpec>,
    /// Custom faces (sticker URLs) listed by `fetch_custom_face`.
    #[serde(default)]
    pub custom_faces: Vec<String>,
}

/// A friend category.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CategorySpec {
    /// Category id.
    pub id: i64,
    /// Category name.
    pub name: String,
}

/// A friend of a bot.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FriendSpec {
    /// The friend's QQ number.
    pub user_id: i64,
    /// The bot's remark for the friend.
    #[serde(default)]
    pub remark: String,
    /// The category id (0 by default).
    #[serde(default)]
    pub category: i64,
}

/// A group a bot is in.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct GroupSpec {
    /// Group number.
    pub group_id: i64,
    /// Group name.
    pub name: String,
    /// Capacity.
    #[serde(default = "two_hundred")]
    pub max_member_count: i64,
    /// The bot's role: `owner`, `admin` or `member`.
    #[serde(default = "member")]
    pub role: String,
    /// The bot's card in this group.
    #[serde(default)]
    pub card: String,
    /// The other members.
    #[serde(default)]
    pub members: Vec<MemberSpec>,
}

/// A member of a group (not the bot).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MemberSpec {
    /// QQ number.
    pub user_id: i64,
    /// Group card.
    #[serde(default)]
    pub card: String,
    /// `owner`, `admin` or `member`.
    #[serde(default = "member")]
    pub role: String,
    /// Special title.
    #[serde(default)]
    pub title: String,
    /// Member level.
    #[serde(default = "one")]
    pub level: i64,
}

fn unknown() -> String {
    "unknown".into()
}
fn member() -> String {
    "member".into()
}
fn one() -> i64 {
    1
}
fn two_hundred() -> i64 {
    200
}

impl World {
    /// Reads a world file: `.json` is JSON, anything else TOML.
    ///
    /// # Errors
    /// A message naming the problem (unreadable file, syntax, inconsistency).
    pub fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read: {e}"))?;
        let world: World = if path.extension().is_some_and(|e| e == "json") {
            serde_json::from_str(&text).map_err(|e| format!("invalid JSON: {e}"))?
        } else {
            toml::from_str(&text).map_err(|e| format!("invalid TOML: {e}"))?
        };
        world.validate()?;
        Ok(world)
    }

    /// Checks ids are unique and roles are valid.
    ///
    /// # Errors
    /// A message naming the first inconsistency.
    pub fn validate(&self) -> Result<(), String> {
        if self.bots.is_empty() {
            return Err("a world needs at least one bot in `bots`".into());
        }
        let mut people = HashSet::new();
        for p in &self.people {
            if !people.insert(p.user_id) {
                return Err(format!("person {} is listed twice", p.user_id));
            }
            check_sex(&p.sex, p.user_id)?;
        }
        let mut bots = HashSet::new();
        for b in &self.bots {
            if !bots.insert(b.self_id) {
                return Err(format!("bot {} is listed twice", b.self_id));
            }
            if people.contains(&b.self_id) {
                return Err(format!("{} is both a bot and a person", b.self_id));
            }
            check_sex(&b.sex, b.self_id)?;
            let mut friends = HashSet::new();
            for f in &b.friends {
                if f.user_id == b.self_id || !friends.insert(f.user_id) {
                    return Err(format!(
                        "bot {}: friend {} is listed twice or is the bot",
                        b.self_id, f.user_id
                    ));
                }
                if f.category != 0 && !b.categories.iter().any(|c| c.id == f.category) {
                    return Err(format!(
                        "bot {}: friend {} is in unknown category {}",
                        b.self_id, f.user_id, f.category
                    ));
                }
            }
            let mut groups = HashSet::new();
            for g in &b.groups {
                if !groups.insert(g.group_id) {
                    return Err(format!(
                        "bot {}: group {} is listed twice",
                        b.self_id, g.group_id
                    ));
                }
                check_role(&g.role, b.self_id, g.group_id)?;
                let mut owners = usize::from(g.role == "owner");
                let mut members = HashSet::new();
                for m in &g.members {
                    if m.user_id == b.self_id || !members.insert(m.user_id) {
                        return Err(format!(
                            "bot {}: group {}: member {} is listed twice or is the bot",
                            b.self_id, g.group_id, m.user_id
                        ));
                    }
                    check_role(&m.role, m.user_id, g.group_id)?;
                    owners += usize::from(m.role == "owner");
                }
                if owners > 1 {
                    return Err(format!("group {} has more than one owner", g.group_id));
                }
            }
        }
        Ok(())
    }

    /// The built-in world: bot 10000 "sandbox", five people, two groups.
    pub fn default_world() -> Self {
        let person = |user_id, nickname: &str, sex: &str, age, area: &str, level| PersonSpec {
            user_id,
            nickname: nickname.into(),
            sex: sex.into(),
            age,
            area: area.into(),
            level,
        };
        let m = |user_id, card: &str, role: &str, title: &str, level| MemberSpec {
            user_id,
            card: card.into(),
            role: role.into(),
            title: title.into(),
            level,
        };
        Self {
            people: vec![
                person(20001, "Alice", "female", 22, "Shanghai", 32),
                person(20002, "Bob", "male", 25, "Beijing", 18),
                person(20003, "Carol", "female", 30, "Hangzhou", 45),
                person(20004, "Dave", "male", 19, "Chengdu", 7),
                person(20005, "Eve", "unknown", 0, "", 1),
            ],
            bots: vec![BotSpec {
                self_id: 10000,
                nickname: "sandbox".into(),
                longnick: "I live in a sandbox".into(),
                sex: "unknown".into(),
                age: 0,
                categories: vec![
                    CategorySpec {
                        id: 0,
                        name: "My Friends".into(),
                    },
                    CategorySpec {
                        id: 1,
                        name: "Classmates".into(),
                    },
                ],
                friends: vec![
                    FriendSpec {
                        user_id: 20001,
                        remark: "alice".into(),
                        category: 0,
                    },
                    FriendSpec {
                        user_id: 20002,
                        remark: String::new(),
                        category: 0,
                    },
                    FriendSpec {
                        user_id: 20003,
                        remark: "carol (school)".into(),
                        category: 1,
                    },
                ],
                groups: vec![
                    GroupSpec {
                        group_id: 100,
                        name: "sandbox group".into(),
                        max_member_count: 200,
                        role: "owner".into(),
                        card: String::new(),
                        members: vec![
                            m(20001, "Alice", "admin", "", 32),
                            m(20002, "", "member", "", 18),
                            m(20003, "Carol", "member", "veteran", 45),
                            m(20004, "", "member", "", 7),
                        ],
                    },
                    GroupSpec {
                        group_id: 101,
                        name: "neighbours".into(),
                        max_member_count: 500,
                        role: "member".into(),
                        card: String::new(),
                        members: vec![
                            m(20002, "", "owner", "", 18),
                            m(20001, "", "admin", "", 32),
                            m(20005, "", "member", "", 1),
                        ],
                    },
                ],
                custom_faces: vec![
                    "http://sandbox.invalid/face/thumbs-up.gif".into(),
                    "http://sandbox.invalid/face/cat.png".into(),
                    "http://sandbox.invalid/face/ok.jpg".into(),
                ],
            }],
        }
    }
}

fn check_sex(sex: &str, id: i64) -> Result<(), String> {
    match sex {
        "male" | "female" | "unknown" => Ok(()),
        other => Err(format!(
            "{id}: sex `{other}` is not one of male, female, unknown"
        )),
    }
}

fn check_role(role: &str, id: i64, group: i64) -> Result<(), String> {
    match role {
        "owner" | "admin" | "member" => Ok(()),
        other => Err(format!(
            "group {group}: {id} has role `{other}`, not one of owner, admin, member"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_world_is_valid() {
        World::default_world().validate().unwrap();
    }

    #[test]
    fn example_world_file_parses() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/world.toml");
        let w = World::load(&path).unwrap();
        assert!(!w.bots.is_empty());
    }

    #[test]
    fn inconsistent_worlds_are_refused_with_a_reason() {
        let mut w = World::default_world();
        w.bots[0].groups[0].members[1].role = "boss".into();
        assert!(w.validate().unwrap_err().contains("boss"));
        let mut w = World::default_world();
        w.bots[0].groups[0].members[0].role = "owner".into();
        assert!(w.validate().unwrap_err().contains("more than one owner"));
        let w = World {
            people: vec![],
            bots: vec![],
        };
        assert!(w.validate().is_err());
    }
}
