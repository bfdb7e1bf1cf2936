//! [`OrderedMap`]: a JSON object with user-chosen keys whose order matters.

use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};

/// A map from names to values that keeps the order of the file it was read from.
///
/// `ExplanationMetadata.inputs` is one: the order of the inputs is the order of the
/// model's features (the legacy SDK relies on it), so it must survive a round trip.
/// Lookups are linear, which is right for the tens to thousands of features a model has.
/// Serialises as a JSON object.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderedMap<T> {
    entries: Vec<(String, T)>,
}

impl<T> Default for OrderedMap<T> {
    fn default() -> Self {
        OrderedMap {
            entries: Vec::new(),
        }
    }
}

impl<T> OrderedMap<T> {
    /// An empty map.
    pub fn new() -> Self {
        Self::default()
    }

    /// The number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when there are no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The value under `name`.
    pub fn get(&self, name: &str) -> Option<&T> {
        self.entries.iter().find(|(k, _)| k == name).map(|(_, v)| v)
    }

    /// The value under `name`, mutably.
    pub fn get_mut(&mut self, name: &str) -> Option<&mut T> {
        self.entries
            .iter_mut()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    }

    /// The position of `name` in the map.
    pub fn position(&self, name: &str) -> Option<usize> {
        self.entries.iter().position(|(k, _)| k == name)
    }

    /// True when `name` is a key.
    pub fn contains_key(&self, name: &str) -> bool {
        self.position(name).is_some()
    }

    /// Inserts `value` under `name`: replaces the value in place (keeping its position) and
    /// returns the old one, or appends a new entry at the end.
    pub fn insert(&mut self, name: impl Into<String>, value: T) -> Option<T> {
        let name = name.into();
        match self.get_mut(&name) {
            Some(slot) => Some(std::mem::replace(slot, value)),
            None => {
                self.entries.push((name, value));
                None
            }
        }
    }

    /// Appends an entry whose name the caller knows is new (keys of a parsed JSON object
    /// are unique): no lookup, so building a map of n entries stays O(n).
    pub(crate) fn push_unique(&mut self, name: String, value: T) {
        self.entries.push((name, value));
    }

    /// Removes `name`, keeping the order of the others.
    pub fn remove(&mut self, name: &str) -> Option<T> {
        let i = self.position(name)?;
        Some(self.entries.remove(i).1)
    }

    /// The entries in order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&str, &T)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// The entries in order, values mutably.
    pub fn iter_mut(&mut self) -> impl ExactSizeIterator<Item = (&str, &mut T)> {
        self.entries.iter_mut().map(|(k, v)| (k.as_str(), v))
    }

    /// The keys in order.
    pub fn keys(&self) -> impl ExactSizeIterator<Item = &str> {
        self.entries.iter().map(|(k, _)| k.as_str())
    }

    /// The values in order.
    pub fn values(&self) -> impl ExactSizeIterator<Item = &T> {
        self.entries.iter().map(|(_, v)| v)
    }

    /// The first entry.
    pub fn first(&self) -> Option<(&str, &T)> {
        self.entries.first().map(|(k, v)| (k.as_str(), v))
    }
}

impl<T> FromIterator<(String, T)> for OrderedMap<T> {
    /// Collects entries; a repeated key keeps its first position and its last value.
    fn from_iter<I: IntoIterator<Item = (String, T)>>(iter: I) -> Self {
        let mut map = OrderedMap::new();
        for (k, v) in iter {
            map.insert(k, v);
        }
        map
    }
}

impl<T> IntoIterator for OrderedMap<T> {
    type Item = (String, T);
    type IntoIter = std::vec::IntoIter<(String, T)>;

    fn into_iter(self) -> Self::IntoIter {
        self.entries.into_iter()
    }
}

impl<T: Serialize> Serialize for OrderedMap<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.entries.len()))?;
        for (k, v) in &self.entries {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_insertion_order_and_replaces_in_place() {
        let mut m: OrderedMap<i32> = [("z".to_owned(), 1), ("a".to_owned(), 2)]
            .into_iter()
            .collect();
        assert_eq!(m.insert("z", 3), Some(1));
        m.insert("m", 4);
        assert_eq!(m.keys().collect::<Vec<_>>(), ["z", "a", "m"]);
        assert_eq!(m.get("z"), Some(&3));
        assert_eq!(m.remove("a"), Some(2));
        assert_eq!(
            serde_json::to_string(&m).ok().as_deref(),
            Some(r#"{"z":3,"m":4}"#)
        );
    }
}
