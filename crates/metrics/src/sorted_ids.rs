//! Set operations on sorted, duplicate-free series-id lists: the postings algebra shared by the
//! head and the block index.

/// The sorted, deduplicated union of the given lists.
pub(crate) fn union<'a>(lists: impl Iterator<Item = &'a [u32]>) -> Vec<u32> {
    let mut out: Vec<u32> = lists.flat_map(|ids| ids.iter().copied()).collect();
    out.sort_unstable();
    out.dedup();
    out
}

/// The ids in both `a` and `b`.
pub(crate) fn intersect(a: &[u32], b: &[u32]) -> Vec<u32> {
    let (mut i, mut j, mut out) = (0, 0, Vec::new());
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                out.push(a[i]);
                i += 1;
                j += 1;
            }
        }
    }
    out
}

/// `a` without the elements of `b`.
pub(crate) fn subtract(a: impl IntoIterator<Item = u32>, b: &[u32]) -> Vec<u32> {
    let mut j = 0;
    a.into_iter()
        .filter(|x| {
            while j < b.len() && b[j] < *x {
                j += 1;
            }
            j >= b.len() || b[j] != *x
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table() {
        assert_eq!(intersect(&[1, 3, 5, 7], &[3, 4, 5]), [3, 5]);
        assert_eq!(intersect(&[], &[1]), Vec::<u32>::new());
        assert_eq!(subtract([1, 3, 5, 7], &[3, 4, 7]), [1, 5]);
        assert_eq!(subtract(0..5, &[0, 4]), [1, 2, 3]);
        let lists: [&[u32]; 3] = [&[5, 1], &[3, 1], &[]];
        assert_eq!(union(lists.into_iter()), [1, 3, 5]);
    }
}
