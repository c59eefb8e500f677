//! Step paths: where a step is in its automation document, written the way
//! validation paths are (`steps[2]`, `steps[2].action.branches[1].steps[0]`,
//! `steps[1].action.otherwise[0]`, `steps[1].action.on_timeout[3]`).
//!
//! A run names each of its steps by path, so a flow step's branches are steps
//! like any other: recorded, queued, delayed and cancelled by the same rules.
//! A [`StepPath`] is a small `Copy` value (no allocation on the hot path); it
//! is written as its text everywhere (runs, queues, `simulate`), and reads a
//! bare number `N` as `steps[N]`, the way runs stored before flows named steps.

use serde::{Deserialize, Serialize};
use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

/// How deep flow steps may nest (a branch inside a branch … of a top-level step).
pub const MAX_NESTING: usize = 8;

/// One list of steps per nesting level, plus the top level.
const MAX_SEGMENTS: usize = MAX_NESTING + 1;

/// The most branches a flow step holds (`wait_for_reply`, `condition`).
pub const MAX_BRANCHES: usize = 10;

/// Which of a flow step's lists of steps a run went on with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Branch {
    /// `branches[i]`: a reply value or a predicate matched.
    Branches(u8),
    /// `otherwise`: nothing matched.
    Otherwise,
    /// `on_timeout`: no reply came in time (`wait_for_reply` only).
    OnTimeout,
}

impl Branch {
    /// The `branches[i]` branch; `None` past [`MAX_BRANCHES`].
    pub fn numbered(index: usize) -> Option<Self> {
        (index < MAX_BRANCHES).then_some(Self::Branches(index as u8))
    }

    /// The code a path segment stores for this branch (0 is the top level).
    fn code(self) -> u8 {
        match self {
            Self::Branches(i) => 1 + i,
            Self::Otherwise => 1 + MAX_BRANCHES as u8,
            Self::OnTimeout => 2 + MAX_BRANCHES as u8,
        }
    }

    fn from_code(code: u8) -> Option<Self> {
        match code {
            0 => None,
            c if c <= MAX_BRANCHES as u8 => Some(Self::Branches(c - 1)),
            c if c == 1 + MAX_BRANCHES as u8 => Some(Self::Otherwise),
            _ => Some(Self::OnTimeout),
        }
    }
}

impl fmt::Display for Branch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Branches(i) => write!(f, "branches[{i}]"),
            Self::Otherwise => f.write_str("otherwise"),
            Self::OnTimeout => f.write_str("on_timeout"),
        }
    }
}

impl FromStr for Branch {
    type Err = PathError;

    fn from_str(raw: &str) -> Result<Self, PathError> {
        match raw {
            "otherwise" => Ok(Self::Otherwise),
            "on_timeout" => Ok(Self::OnTimeout),
            _ => {
                let index = raw
                    .strip_prefix("branches[")
                    .and_then(|rest| rest.strip_suffix(']'))
                    .and_then(|digits| digits.parse::<usize>().ok())
                    .ok_or_else(|| {
                        PathError(format!("`{raw}` is not a branch: branches[N], otherwise or on_timeout"))
                    })?;
                Self::numbered(index).ok_or_else(|| PathError(format!("`{raw}`: at most {MAX_BRANCHES} branches")))
            }
        }
    }
}

impl Serialize for Branch {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Branch {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = std::borrow::Cow::<str>::deserialize(d)?;
        raw.parse().map_err(serde::de::Error::custom)
    }
}

/// Why a step path was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PathError(String);

/// One level of a path: the list (0: the automation's `steps`, else a [`Branch`]'s code)
/// and the step's index in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
struct Segment {
    list: u8,
    index: u8,
}

/// Where a step is in its automation: the top-level index, then for each flow step on
/// the way the branch taken and the index in it. Ordered the way a run goes through its
/// steps (a step before its successors, a flow step before its branch's steps).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct StepPath {
    len: u8,
    segments: [Segment; MAX_SEGMENTS],
}

impl StepPath {
    /// `steps[index]`. Automations have at most 200 steps, so any index a run names fits.
    pub fn top(index: usize) -> Self {
        let mut segments = [Segment::default(); MAX_SEGMENTS];
        segments[0].index = u8::try_from(index).expect("a step index fits a byte (validated)");
        Self { len: 1, segments }
    }

    /// `steps[0]`: where every run starts.
    pub fn first() -> Self {
        Self::top(0)
    }

    /// The step `index` of `branch` of this (flow) step; `None` deeper than [`MAX_NESTING`].
    pub fn child(&self, branch: Branch, index: usize) -> Option<Self> {
        let len = usize::from(self.len);
        if len >= MAX_SEGMENTS {
            return None;
        }
        let mut child = *self;
        child.segments[len] = Segment { list: branch.code(), index: u8::try_from(index).ok()? };
        child.len += 1;
        Some(child)
    }

    /// The next step of the same list (which may not exist).
    pub fn sibling(&self) -> Option<Self> {
        let mut next = *self;
        let last = &mut next.segments[usize::from(self.len) - 1];
        last.index = last.index.checked_add(1)?;
        Some(next)
    }

    /// The index of the step in its list.
    pub fn index(&self) -> usize {
        usize::from(self.segments[usize::from(self.len) - 1].index)
    }

    /// How many flow steps contain this one (0 for a top-level step).
    pub fn depth(&self) -> usize {
        usize::from(self.len) - 1
    }

    /// The branches taken on the way, outermost first, each with the index of the step
    /// in the list before it: `(index in the outer list, branch)`, then the last index.
    pub fn walk(&self) -> (usize, impl Iterator<Item = (Branch, usize)> + '_) {
        let first = usize::from(self.segments[0].index);
        let rest = self.segments[1..usize::from(self.len)]
            .iter()
            .map(|s| (Branch::from_code(s.list).expect("inner segments name a branch"), usize::from(s.index)));
        (first, rest)
    }

    fn segments(&self) -> &[Segment] {
        &self.segments[..usize::from(self.len)]
    }
}

impl PartialOrd for StepPath {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for StepPath {
    /// Lexicographic by level: a path comes before its extensions, `[i]` before `[i + 1]`.
    fn cmp(&self, other: &Self) -> Ordering {
        let key = |s: &Segment| (s.list, s.index);
        self.segments().iter().map(key).cmp(other.segments().iter().map(key))
    }
}

impl fmt::Display for StepPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (first, rest) = self.walk();
        write!(f, "steps[{first}]")?;
        for (branch, index) in rest {
            match branch {
                Branch::Branches(b) => write!(f, ".action.branches[{b}].steps[{index}]")?,
                other => write!(f, ".action.{other}[{index}]")?,
            }
        }
        Ok(())
    }
}

impl fmt::Debug for StepPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StepPath({self})")
    }
}

impl FromStr for StepPath {
    type Err = PathError;

    fn from_str(raw: &str) -> Result<Self, PathError> {
        let bad = || PathError(format!("`{raw}` is not a step path (e.g. steps[2].action.branches[1].steps[0])"));
        // Plain digits only, as the path is written (`parse` alone would take `+1` and `01`).
        let index = |digits: &str| {
            let canonical = !digits.is_empty()
                && digits.bytes().all(|b| b.is_ascii_digit())
                && (digits == "0" || !digits.starts_with('0'));
            digits.parse::<usize>().ok().filter(|i| canonical && *i <= usize::from(u8::MAX))
        };
        // `steps[N]` then any number of `.action.LIST[N]`, where LIST is `branches[B].steps`,
        // `otherwise` or `on_timeout`.
        let rest = raw.strip_prefix("steps[").ok_or_else(bad)?;
        let (digits, mut rest) = rest.split_once(']').ok_or_else(bad)?;
        let mut path = Self::top(index(digits).ok_or_else(bad)?);
        while !rest.is_empty() {
            let inner = rest.strip_prefix(".action.").ok_or_else(bad)?;
            let (branch, after) = if let Some(after) = inner.strip_prefix("branches[") {
                let (digits, after) = after.split_once(']').ok_or_else(bad)?;
                let branch = index(digits).and_then(Branch::numbered).ok_or_else(bad)?;
                (branch, after.strip_prefix(".steps[").ok_or_else(bad)?)
            } else if let Some(after) = inner.strip_prefix("otherwise[") {
                (Branch::Otherwise, after)
            } else if let Some(after) = inner.strip_prefix("on_timeout[") {
                (Branch::OnTimeout, after)
            } else {
                return Err(bad());
            };
            let (digits, after) = after.split_once(']').ok_or_else(bad)?;
            path = path.child(branch, index(digits).ok_or_else(bad)?).ok_or_else(bad)?;
            rest = after;
        }
        Ok(path)
    }
}

impl Serialize for StepPath {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Reads the path text, or a bare step number as runs stored before flows wrote it.
impl<'de> Deserialize<'de> for StepPath {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct PathVisitor;

        impl serde::de::Visitor<'_> for PathVisitor {
            type Value = StepPath;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a step path such as \"steps[0]\"")
            }

            fn visit_str<E: serde::de::Error>(self, raw: &str) -> Result<StepPath, E> {
                raw.parse().map_err(E::custom)
            }

            fn visit_u64<E: serde::de::Error>(self, index: u64) -> Result<StepPath, E> {
                usize::try_from(index)
                    .ok()
                    .filter(|i| *i <= usize::from(u8::MAX))
                    .map(StepPath::top)
                    .ok_or_else(|| E::custom(format!("step {index} is out of range")))
            }

            fn visit_i64<E: serde::de::Error>(self, index: i64) -> Result<StepPath, E> {
                u64::try_from(index)
                    .map_err(|_| E::custom(format!("step {index} is out of range")))
                    .and_then(|i| self.visit_u64(i))
            }
        }

        d.deserialize_any(PathVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_is_written_as_a_validation_path_and_read_back() {
        let path = StepPath::top(2)
            .child(Branch::Branches(1), 0)
            .unwrap()
            .child(Branch::Otherwise, 3)
            .unwrap()
            .child(Branch::OnTimeout, 1)
            .unwrap();
        let text = "steps[2].action.branches[1].steps[0].action.otherwise[3].action.on_timeout[1]";
        assert_eq!(path.to_string(), text);
        assert_eq!(text.parse::<StepPath>().unwrap(), path);
        assert_eq!(serde_json::to_string(&path).unwrap(), format!("\"{text}\""));
        assert_eq!(path.depth(), 3);
        assert_eq!(path.index(), 1);
    }

    #[test]
    fn a_stored_step_number_reads_as_a_top_level_path() {
        let path: StepPath = serde_json::from_str("3").unwrap();
        assert_eq!(path, StepPath::top(3));
        assert!(serde_json::from_str::<StepPath>("-1").is_err());
        assert!(serde_json::from_str::<StepPath>("900").is_err());
    }

    #[test]
    fn malformed_paths_are_refused() {
        for raw in [
            "",
            "steps",
            "steps[]",
            "steps[1",
            "step[1]",
            "steps[1].action",
            "steps[1].action.branches[10].steps[0]",
            "steps[1].action.branches[0]",
            "steps[1].action.nope[0]",
            "steps[1]x",
            "steps[+1]",
            "steps[01]",
        ] {
            assert!(raw.parse::<StepPath>().is_err(), "{raw} was read");
        }
    }

    #[test]
    fn paths_order_the_way_a_run_goes() {
        let wait = StepPath::top(1);
        let branch_step = wait.child(Branch::Branches(0), 0).unwrap();
        let later_branch_step = branch_step.sibling().unwrap();
        assert!(StepPath::top(0) < wait);
        assert!(wait < branch_step);
        assert!(branch_step < later_branch_step);
        assert!(wait < StepPath::top(2));
    }

    #[test]
    fn nesting_stops_at_the_limit() {
        let mut path = StepPath::first();
        for _ in 0..MAX_NESTING {
            path = path.child(Branch::Otherwise, 0).unwrap();
        }
        assert_eq!(path.child(Branch::Otherwise, 0), None);
    }

    #[test]
    fn branches_are_named_as_simulate_prints_them() {
        assert_eq!(Branch::Branches(1).to_string(), "branches[1]");
        assert_eq!("on_timeout".parse::<Branch>().unwrap(), Branch::OnTimeout);
        assert!("branches[10]".parse::<Branch>().is_err());
    }
}
