//! The `index` file: per page of `data`, its first and last trace ID and where it lies.

use std::ops::Range;

use crate::model::TraceId;

use super::codec::{header, open, put_varint, seal, Reader};
use super::TracesBlockError;

const INDEX_MAGIC: &[u8; 4] = b"SXTI";
const FILE: &str = "index";

/// One page of `data`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TracesPageRef {
    /// Position of the page in the block (the `page` of a search candidate).
    pub number: u32,
    pub first: TraceId,
    pub last: TraceId,
    /// Byte offset and length in `data`, CRC included.
    pub offset: u64,
    pub len: u64,
    pub traces: u32,
}

impl TracesPageRef {
    /// The page's bytes in `data`, for a ranged GET.
    pub fn range(&self) -> Range<u64> {
        self.offset..self.offset + self.len
    }
}

/// A parsed, validated index: pages in ID order, their ranges consecutive in `data`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TracesBlockIndex {
    pages: Vec<TracesPageRef>,
}

impl TracesBlockIndex {
    pub(super) fn new(pages: Vec<TracesPageRef>) -> TracesBlockIndex {
        TracesBlockIndex { pages }
    }

    pub(super) fn encode(&self) -> Vec<u8> {
        let mut buf = header(INDEX_MAGIC);
        put_varint(&mut buf, self.pages.len() as u64);
        let mut end = 0;
        for p in &self.pages {
            buf.extend_from_slice(p.first.as_bytes());
            buf.extend_from_slice(p.last.as_bytes());
            put_varint(&mut buf, p.offset - end);
            put_varint(&mut buf, p.len);
            put_varint(&mut buf, u64::from(p.traces));
            end = p.offset + p.len;
        }
        seal(buf)
    }

    /// Checks magic, version and CRC, and that pages are ordered and do not overlap.
    pub fn parse(bytes: &[u8]) -> Result<TracesBlockIndex, TracesBlockError> {
        let mut r = Reader::new(open(bytes, INDEX_MAGIC, FILE)?, FILE);
        let count = r.count()?;
        let mut pages: Vec<TracesPageRef> = Vec::with_capacity(count);
        let mut end = 0u64;
        for number in 0..count {
            let (first, last) = (r.trace_id()?, r.trace_id()?);
            let offset = end
                .checked_add(r.varint()?)
                .ok_or_else(|| r.corrupt("offset overflows"))?;
            let len = r.varint()?;
            end = offset
                .checked_add(len)
                .ok_or_else(|| r.corrupt("length overflows"))?;
            let traces = r.u32()?;
            let after_previous = pages.last().is_none_or(|p| p.last < first);
            if first > last || !after_previous || traces == 0 {
                return Err(r.corrupt(format!("page {number} out of order or empty")));
            }
            pages.push(TracesPageRef {
                number: number as u32,
                first,
                last,
                offset,
                len,
                traces,
            });
        }
        r.finish()?;
        Ok(TracesBlockIndex { pages })
    }

    /// The page that would hold `id` (binary search); `None` when no page's ID range covers
    /// it. The page may still not hold it: IDs are sparse.
    pub fn page_for(&self, id: &TraceId) -> Option<TracesPageRef> {
        let after = self.pages.partition_point(|p| p.first <= *id);
        let page = self.pages.get(after.checked_sub(1)?)?;
        (*id <= page.last).then_some(*page)
    }

    /// Every page, in ID order.
    pub fn pages(&self) -> &[TracesPageRef] {
        &self.pages
    }

    /// The page numbered `number`.
    pub fn page(&self, number: u32) -> Option<TracesPageRef> {
        self.pages.get(number as usize).copied()
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn id(last: u8) -> TraceId {
        let mut id = [0u8; 16];
        id[15] = last;
        TraceId(id)
    }

    fn index() -> TracesBlockIndex {
        let page = |number: u32, first, last, offset| TracesPageRef {
            number,
            first: id(first),
            last: id(last),
            offset,
            len: 100,
            traces: 2,
        };
        TracesBlockIndex::new(vec![
            page(0, 10, 20, 5),
            page(1, 30, 40, 105),
            page(2, 41, 41, 205),
        ])
    }

    #[test]
    fn page_for_finds_the_covering_page() {
        let index = TracesBlockIndex::parse(&index().encode()).unwrap();
        assert_eq!(index, self::index());
        let cases = [
            (9, None),
            (10, Some(0)),
            (15, Some(0)),
            (20, Some(0)),
            (25, None),
            (30, Some(1)),
            (40, Some(1)),
            (41, Some(2)),
            (42, None),
        ];
        for (last, page) in cases {
            let found = index.page_for(&id(last)).map(|p| p.number);
            assert_eq!(found, page, "{last}");
        }
        assert_eq!(index.page(1).unwrap().range(), 105..205);
        assert_eq!(index.page(3), None);
        assert_eq!(
            TracesBlockIndex::parse(&TracesBlockIndex::default().encode())
                .unwrap()
                .pages(),
            []
        );
    }

    #[test]
    fn overlapping_or_empty_pages_are_corrupt() {
        let mut pages = index().pages;
        pages[1].first = id(20); // overlaps page 0
        assert!(TracesBlockIndex::parse(&TracesBlockIndex::new(pages).encode()).is_err());
        let mut pages = index().pages;
        pages[2].traces = 0;
        assert!(TracesBlockIndex::parse(&TracesBlockIndex::new(pages).encode()).is_err());
    }

    proptest! {
        #[test]
        fn page_for_agrees_with_a_scan(lasts in proptest::collection::btree_set(any::<u8>(), 1..40), probe in any::<u8>()) {
            let lasts: Vec<u8> = lasts.into_iter().collect();
            let mut offset = 5;
            let pages: Vec<TracesPageRef> = lasts
                .chunks(2)
                .enumerate()
                .map(|(n, c)| {
                    let p = TracesPageRef { number: n as u32, first: id(c[0]), last: id(c[c.len() - 1]), offset, len: 10, traces: c.len() as u32 };
                    offset += 10;
                    p
                })
                .collect();
            let index = TracesBlockIndex::parse(&TracesBlockIndex::new(pages.clone()).encode()).unwrap();
            let want = pages.iter().find(|p| p.first <= id(probe) && id(probe) <= p.last).copied();
            prop_assert_eq!(index.page_for(&id(probe)), want);
        }
    }
}
