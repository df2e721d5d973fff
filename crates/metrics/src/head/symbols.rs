//! The symbol table: every label name and value string stored once, referred to by a `u32`.

use hashbrown::HashTable;
use xxhash_rust::xxh3::xxh3_64;

/// Interned strings, kept back to back in one arena (good locality, no per-string
/// allocation). Symbols are never removed while the head lives.
#[derive(Debug, Default)]
pub(crate) struct SymbolTable {
    arena: String,
    /// End offset in `arena` of each symbol; symbol `i` starts where `i - 1` ends.
    ends: Vec<usize>,
    index: HashTable<u32>,
}

impl SymbolTable {
    pub(crate) fn get(&self, id: u32) -> &str {
        get(&self.arena, &self.ends, id)
    }

    pub(crate) fn lookup(&self, s: &str) -> Option<u32> {
        let (arena, ends) = (&self.arena, &self.ends);
        self.index
            .find(xxh3_64(s.as_bytes()), |id| get(arena, ends, *id) == s)
            .copied()
    }

    /// The id of `s`, adding it when new.
    pub(crate) fn intern(&mut self, s: &str) -> u32 {
        if let Some(id) = self.lookup(s) {
            return id;
        }
        let id = self.ends.len() as u32;
        self.arena.push_str(s);
        self.ends.push(self.arena.len());
        let (arena, ends) = (&self.arena, &self.ends);
        self.index.insert_unique(xxh3_64(s.as_bytes()), id, |id| {
            xxh3_64(get(arena, ends, *id).as_bytes())
        });
        id
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.ends.len()
    }
}

fn get<'a>(arena: &'a str, ends: &[usize], id: u32) -> &'a str {
    let id = id as usize;
    let start = match id {
        0 => 0,
        _ => ends.get(id - 1).copied().unwrap_or(0),
    };
    let end = ends.get(id).copied().unwrap_or(start);
    arena.get(start..end).unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interns_once() {
        let mut t = SymbolTable::default();
        let a = t.intern("job");
        let b = t.intern("instance");
        assert_ne!(a, b);
        assert_eq!(t.intern("job"), a);
        assert_eq!(t.lookup("instance"), Some(b));
        assert_eq!(t.lookup("nope"), None);
        assert_eq!((t.get(a), t.get(b), t.get(99)), ("job", "instance", ""));
        assert_eq!(t.len(), 2);
    }
}
