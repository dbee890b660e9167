//! Document operations: changes inside session values (arrays, counters, nested paths, renames)
//! that a store applies in the request's one atomic commit, as koa-atomic-session's MongoDB
//! update operators do. [`Operation::apply`] is their reference semantics; every store matches it.

use std::fmt;

use serde_json::{Map, Value};

use crate::record::SessionData;

/// A path into the session data in MongoDB's dotted form: `"cart.items"` is the member `items`
/// of the object under the key `cart`.
///
/// ```
/// use sessile::document::Path;
/// let path = Path::parse("cart.items")?;
/// assert_eq!(path.top(), "cart");
/// assert_eq!(path.to_string(), "cart.items");
/// assert!(Path::parse("cart..items").is_err());
/// # Ok::<(), sessile::document::OperationError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Path {
    segments: Vec<String>,
}

impl Path {
    /// Splits a dotted path; an empty path or an empty segment is
    /// [`OperationError::InvalidPath`].
    pub fn parse(text: &str) -> Result<Path, OperationError> {
        if text.split('.').any(str::is_empty) {
            return Err(OperationError::InvalidPath {
                path: text.to_owned(),
            });
        }
        Ok(Path {
            segments: text.split('.').map(str::to_owned).collect(),
        })
    }

    /// The top-level key itself, taken literally (dots included), as [`crate::Session::insert`]
    /// takes it.
    ///
    /// ```
    /// let path = sessile::document::Path::key("a.b");
    /// assert_eq!(path.segments(), ["a.b"]);
    /// ```
    pub fn key(key: &str) -> Path {
        Path {
            segments: vec![key.to_owned()],
        }
    }

    /// The top-level key the path starts at.
    pub fn top(&self) -> &str {
        &self.segments[0]
    }

    /// The keys from the top level down.
    pub fn segments(&self) -> &[String] {
        &self.segments
    }

    fn contains(&self, other: &Path) -> bool {
        other.segments.starts_with(&self.segments)
    }
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.segments.join("."))
    }
}

/// Which end of an array [`Operation::Pop`] removes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    /// The first element (MongoDB's `$pop: -1`).
    First,
    /// The last element (MongoDB's `$pop: 1`).
    Last,
}

/// One change inside the session data, applied by the store in the commit.
///
/// A missing object on the way to a set, increment, push or add-to-set is created; a missing
/// value on the way to a remove, pop, pull or rename makes the operation a no-op. A path that
/// crosses a value that is not an object, an array operation on a value that is neither absent,
/// `null` nor an array, and an increment of a non-integer refuse the whole commit
/// ([`OperationError`]): nothing of it is written.
///
/// ```
/// use serde_json::json;
/// use sessile::document::{Operation, Path};
/// let mut data = serde_json::from_value(json!({"cart": {"items": ["a"]}})).unwrap();
/// let push = Operation::Push { path: Path::parse("cart.items")?, values: vec![json!("b")] };
/// push.apply(&mut data)?;
/// assert_eq!(data["cart"], json!({"items": ["a", "b"]}));
/// # Ok::<(), sessile::document::OperationError>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Operation {
    /// The value at `path` becomes `value` (MongoDB's `$set`).
    Set {
        /// Where.
        path: Path,
        /// The new value.
        value: Value,
    },
    /// The value at `path` is removed (`$unset`).
    Remove {
        /// Where.
        path: Path,
    },
    /// Adds `by` to the integer at `path`; absent or `null` counts as 0 (`$inc`).
    Increment {
        /// Where.
        path: Path,
        /// How much.
        by: i64,
    },
    /// Appends `values` to the array at `path`; absent or `null` is an empty array (`$push`,
    /// `$pushAll`).
    Push {
        /// Where.
        path: Path,
        /// Appended in this order.
        values: Vec<Value>,
    },
    /// Removes the first or last element of the array at `path`, if any (`$pop`).
    Pop {
        /// Where.
        path: Path,
        /// Which end.
        end: End,
    },
    /// Removes every element equal to one of `values` from the array at `path` (`$pull`,
    /// `$pullAll`). Equality is JSON equality: `1` and `1.0` differ, object member order does
    /// not matter.
    Pull {
        /// Where.
        path: Path,
        /// The values to remove.
        values: Vec<Value>,
    },
    /// Appends each of `values` not already in the array at `path` (`$addToSet`).
    AddToSet {
        /// Where.
        path: Path,
        /// The values to add, in this order.
        values: Vec<Value>,
    },
    /// Moves the value at `from` to `to`, replacing what was there (`$rename`); a no-op when
    /// `from` is absent. Paths where one contains the other are refused.
    Rename {
        /// The value's path now.
        from: Path,
        /// Its path after.
        to: Path,
    },
}

/// Why a commit's document operations were refused. Nothing of the commit was written.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OperationError {
    /// The text is not a dotted path of non-empty keys.
    #[error("{path:?} is not a session path (dotted, non-empty keys)")]
    InvalidPath {
        /// The text given.
        path: String,
    },
    /// The path goes through a value that is not an object.
    #[error("session path {path:?} crosses {found} at {at:?}, which is not an object")]
    CrossesNonObject {
        /// The operation's path.
        path: String,
        /// The part of it that holds the value.
        at: String,
        /// The JSON type found there.
        found: &'static str,
    },
    /// An array operation on a value that is not an array.
    #[error("session value at {path:?} is {found}, not an array")]
    NotAnArray {
        /// The operation's path.
        path: String,
        /// The JSON type found there.
        found: &'static str,
    },
    /// An increment of a value that is not an integer, or past `i64`.
    #[error("session value at {path:?} is not an integer that can be incremented by {by}")]
    NotAnInteger {
        /// The operation's path.
        path: String,
        /// The increment.
        by: i64,
    },
    /// A rename between paths where one contains the other.
    #[error("cannot rename session path {from:?} to {to:?}: one contains the other")]
    RenameOverlap {
        /// The source path.
        from: String,
        /// The target path.
        to: String,
    },
}

impl Operation {
    /// The paths the operation reads or writes.
    pub fn paths(&self) -> impl Iterator<Item = &Path> {
        let (first, second) = match self {
            Operation::Set { path, .. }
            | Operation::Remove { path }
            | Operation::Increment { path, .. }
            | Operation::Push { path, .. }
            | Operation::Pop { path, .. }
            | Operation::Pull { path, .. }
            | Operation::AddToSet { path, .. } => (path, None),
            Operation::Rename { from, to } => (from, Some(to)),
        };
        std::iter::once(first).chain(second)
    }

    /// Applies the operation to `data`: the reference semantics. On an error `data` may be
    /// partly changed; [`crate::ChangeSet::apply_to`] works on a copy, so a refused commit
    /// changes nothing.
    pub fn apply(&self, data: &mut SessionData) -> Result<(), OperationError> {
        match self {
            Operation::Set { path, value } => {
                let (parent, last) = parent_creating(data, path)?;
                parent.insert(last.to_owned(), value.clone());
            }
            Operation::Remove { path } => {
                if let Some((parent, last)) = parent_existing(data, path)? {
                    parent.remove(last);
                }
            }
            Operation::Increment { path, by } => {
                let (parent, last) = parent_creating(data, path)?;
                let value = incremented(parent.get(last), *by).ok_or_else(|| {
                    OperationError::NotAnInteger {
                        path: path.to_string(),
                        by: *by,
                    }
                })?;
                parent.insert(last.to_owned(), value.into());
            }
            Operation::Push { path, values } => {
                let (parent, last) = parent_creating(data, path)?;
                array_creating(parent, last, path)?.extend(values.iter().cloned());
            }
            Operation::AddToSet { path, values } => {
                let (parent, last) = parent_creating(data, path)?;
                let array = array_creating(parent, last, path)?;
                for value in values {
                    if !array.contains(value) {
                        array.push(value.clone());
                    }
                }
            }
            Operation::Pop { path, end } => {
                if let Some(array) = array_existing(data, path)? {
                    match end {
                        End::First if !array.is_empty() => {
                            array.remove(0);
                        }
                        End::First => {}
                        End::Last => {
                            array.pop();
                        }
                    }
                }
            }
            Operation::Pull { path, values } => {
                if let Some(array) = array_existing(data, path)? {
                    array.retain(|element| !values.contains(element));
                }
            }
            Operation::Rename { from, to } => {
                if from.contains(to) || to.contains(from) {
                    return Err(OperationError::RenameOverlap {
                        from: from.to_string(),
                        to: to.to_string(),
                    });
                }
                let moved = match parent_existing(data, from)? {
                    Some((parent, last)) => parent.remove(last),
                    None => None,
                };
                if let Some(value) = moved {
                    let (parent, last) = parent_creating(data, to)?;
                    parent.insert(last.to_owned(), value);
                }
            }
        }
        Ok(())
    }
}

/// Adds `by` to an integer JSON value (absent or `null` counts as 0): the increment rule every
/// store follows. `None` when the value is not an integer or the sum leaves `i64`.
///
/// ```
/// use serde_json::json;
/// assert_eq!(sessile::change::incremented(Some(&json!(41)), 1), Some(42));
/// assert_eq!(sessile::change::incremented(None, 5), Some(5));
/// assert_eq!(sessile::change::incremented(Some(&json!("x")), 1), None);
/// ```
pub fn incremented(current: Option<&Value>, by: i64) -> Option<i64> {
    match current {
        None | Some(Value::Null) => Some(by),
        Some(value) => value.as_i64()?.checked_add(by),
    }
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn crossing(path: &Path, depth: usize, found: &Value) -> OperationError {
    OperationError::CrossesNonObject {
        path: path.to_string(),
        at: path.segments[..=depth].join("."),
        found: type_name(found),
    }
}

/// An object of the data and a key in it: where an operation's path ends.
type Slot<'d, 'p> = (&'d mut Map<String, Value>, &'p str);

/// The object holding the path's last key, creating missing objects on the way.
fn parent_creating<'d, 'p>(
    data: &'d mut SessionData,
    path: &'p Path,
) -> Result<Slot<'d, 'p>, OperationError> {
    let (last, parents) = path.segments.split_last().expect("a path has a segment");
    let mut map = data;
    for (depth, segment) in parents.iter().enumerate() {
        let next = map
            .entry(segment.clone())
            .or_insert_with(|| Value::Object(Map::new()));
        map = match next {
            Value::Object(inner) => inner,
            other => return Err(crossing(path, depth, other)),
        };
    }
    Ok((map, last))
}

/// The object holding the path's last key, `None` when an object on the way is missing.
fn parent_existing<'d, 'p>(
    data: &'d mut SessionData,
    path: &'p Path,
) -> Result<Option<Slot<'d, 'p>>, OperationError> {
    let (last, parents) = path.segments.split_last().expect("a path has a segment");
    let mut map = data;
    for (depth, segment) in parents.iter().enumerate() {
        map = match map.get_mut(segment) {
            None => return Ok(None),
            Some(Value::Object(inner)) => inner,
            Some(other) => return Err(crossing(path, depth, other)),
        };
    }
    Ok(Some((map, last)))
}

fn not_an_array(path: &Path, found: &Value) -> OperationError {
    OperationError::NotAnArray {
        path: path.to_string(),
        found: type_name(found),
    }
}

/// The array under `last`, an empty one put there when it is absent or `null`.
fn array_creating<'m>(
    parent: &'m mut Map<String, Value>,
    last: &str,
    path: &Path,
) -> Result<&'m mut Vec<Value>, OperationError> {
    let slot = parent.entry(last.to_owned()).or_insert(Value::Null);
    if slot.is_null() {
        *slot = Value::Array(Vec::new());
    }
    match slot {
        Value::Array(array) => Ok(array),
        other => Err(not_an_array(path, other)),
    }
}

/// The array at `path`, `None` when it (or an object on the way) is absent or `null`.
fn array_existing<'d>(
    data: &'d mut SessionData,
    path: &Path,
) -> Result<Option<&'d mut Vec<Value>>, OperationError> {
    let Some((parent, last)) = parent_existing(data, path)? else {
        return Ok(None);
    };
    match parent.get_mut(last) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(array)) => Ok(Some(array)),
        Some(other) => Err(not_an_array(path, other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn data(value: Value) -> SessionData {
        serde_json::from_value(value).unwrap()
    }

    fn path(text: &str) -> Path {
        Path::parse(text).unwrap()
    }

    #[test]
    fn nested_set_creates_objects_and_refuses_to_cross_a_non_object() {
        let mut doc = data(json!({"a": 1}));
        let set = |p: &str| Operation::Set {
            path: path(p),
            value: json!(true),
        };
        set("x.y.z").apply(&mut doc).unwrap();
        assert_eq!(doc["x"], json!({"y": {"z": true}}));
        assert_eq!(
            set("a.b").apply(&mut doc),
            Err(OperationError::CrossesNonObject {
                path: "a.b".into(),
                at: "a".into(),
                found: "a number"
            })
        );
        let remove = Operation::Remove { path: path("q.r") };
        remove.apply(&mut doc).unwrap();
        assert_eq!(doc.len(), 2);
    }

    #[test]
    fn array_operations_follow_mongodb() {
        let mut doc = data(json!({"l": [1, 2, 2, 3]}));
        let l = path("l");
        let apply = |op: Operation, doc: &mut SessionData| op.apply(doc).unwrap();
        apply(
            Operation::Pull {
                path: l.clone(),
                values: vec![json!(2)],
            },
            &mut doc,
        );
        assert_eq!(doc["l"], json!([1, 3]));
        apply(
            Operation::AddToSet {
                path: l.clone(),
                values: vec![json!(3), json!(4), json!(4)],
            },
            &mut doc,
        );
        assert_eq!(doc["l"], json!([1, 3, 4]));
        apply(
            Operation::Pop {
                path: l.clone(),
                end: End::First,
            },
            &mut doc,
        );
        apply(
            Operation::Pop {
                path: l.clone(),
                end: End::Last,
            },
            &mut doc,
        );
        assert_eq!(doc["l"], json!([3]));
        apply(
            Operation::Push {
                path: path("new"),
                values: vec![json!(1)],
            },
            &mut doc,
        );
        assert_eq!(doc["new"], json!([1]));
        let refused = Operation::Push {
            path: path("l.x"),
            values: vec![],
        };
        assert!(matches!(
            refused.apply(&mut doc),
            Err(OperationError::CrossesNonObject { .. })
        ));
    }

    #[test]
    fn rename_moves_and_refuses_overlaps() {
        let mut doc = data(json!({"a": {"b": 1}, "c": 2}));
        let rename = |from: &str, to: &str| Operation::Rename {
            from: path(from),
            to: path(to),
        };
        rename("a.b", "d.e").apply(&mut doc).unwrap();
        assert_eq!(doc, data(json!({"a": {}, "c": 2, "d": {"e": 1}})));
        rename("missing", "c").apply(&mut doc).unwrap();
        assert_eq!(doc["c"], json!(2));
        assert!(matches!(
            rename("d", "d.e").apply(&mut doc),
            Err(OperationError::RenameOverlap { .. })
        ));
    }
}
