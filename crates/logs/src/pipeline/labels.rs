//! The labels of one entry while it flows through the stages (Loki's `LabelsBuilder`).
//!
//! Stream labels are borrowed and never copied unless a stage changes them; structured
//! metadata and everything the stages add live in a small vector. Name clashes follow Loki:
//! the plain name belongs to the highest source (stream > structured metadata > parsed) and a
//! losing value moves to `<name>_extracted`, where a parsed value beats metadata.

use std::borrow::Cow;

use sextant_model::{Label, Labels};

pub(crate) const ERROR_LABEL: &str = "__error__";
pub(crate) const ERROR_DETAILS_LABEL: &str = "__error_details__";
const DUPLICATE_SUFFIX: &str = "_extracted";

/// Where an added label came from: decides which value a later writer may replace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    Metadata,
    Parsed,
}

/// A label on top of the stream labels; metadata is borrowed, not copied.
#[derive(Debug)]
struct Added<'a> {
    name: Cow<'a, str>,
    value: Cow<'a, str>,
    source: Source,
}

/// The working label set of one entry.
#[derive(Debug)]
pub(crate) struct LineLabels<'a> {
    stream: &'a Labels,
    metadata: &'a Labels,
    added: Vec<Added<'a>>,
    /// Stream labels removed by `drop`, `keep` or a rename.
    hidden: Vec<String>,
    err: String,
    err_details: String,
}

impl<'a> LineLabels<'a> {
    /// Starts from the stream labels and structured metadata of an entry. `__error__` and
    /// `__error_details__` among them (labels after an unwrap) become the entry's error.
    pub(crate) fn new(stream: &'a Labels, metadata: &'a Labels) -> Self {
        let mut labels = LineLabels {
            stream,
            metadata,
            added: Vec::new(),
            hidden: Vec::new(),
            err: String::new(),
            err_details: String::new(),
        };
        for (name, slot) in [
            (ERROR_LABEL, &mut labels.err),
            (ERROR_DETAILS_LABEL, &mut labels.err_details),
        ] {
            if let Some(value) = stream.get(name).or_else(|| metadata.get(name)) {
                value.clone_into(slot);
                labels.hidden.push(name.to_owned());
            }
        }
        for label in metadata {
            if label.name == ERROR_LABEL || label.name == ERROR_DETAILS_LABEL {
                continue;
            }
            let name = if stream.get(&label.name).is_some() {
                Cow::Owned(format!("{}{DUPLICATE_SUFFIX}", label.name))
            } else {
                Cow::Borrowed(label.name.as_str())
            };
            labels.put(name, Cow::Borrowed(&label.value), Source::Metadata);
        }
        labels
    }

    /// The current value of a label; `__error__` and `__error_details__` are not labels here.
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        if let Some(a) = self.added.iter().find(|a| a.name == name) {
            return Some(&a.value);
        }
        if self.hidden.iter().any(|h| h == name) {
            return None;
        }
        self.stream.get(name)
    }

    /// Like [`get`](Self::get), but also answers for the error labels (as templates see them).
    pub(crate) fn get_with_errors(&self, name: &str) -> Option<&str> {
        match name {
            ERROR_LABEL if !self.err.is_empty() => Some(&self.err),
            ERROR_DETAILS_LABEL if !self.err_details.is_empty() => Some(&self.err_details),
            _ => self.get(name),
        }
    }

    /// The name a parser stores `name` under: `<name>_extracted` when the stream or the
    /// structured metadata already holds `name`.
    pub(crate) fn parsed_name<'n>(&self, name: &'n str) -> Cow<'n, str> {
        if self.stream.get(name).is_some() || self.metadata.get(name).is_some() {
            format!("{name}{DUPLICATE_SUFFIX}").into()
        } else {
            name.into()
        }
    }

    /// Whether a parser already set `name` for this entry (the first parsed value wins).
    fn is_extracted(&self, name: &str) -> bool {
        self.added
            .iter()
            .any(|a| a.name == name && a.source == Source::Parsed)
    }

    /// Stores a field found by a parser: the clash rules apply and an earlier parsed value
    /// of the same name is kept.
    pub(crate) fn set_parsed_field(&mut self, name: &str, value: &str) {
        // a field named like an error label would shadow the entry's error
        if name == ERROR_LABEL || name == ERROR_DETAILS_LABEL {
            return;
        }
        let name = self.parsed_name(name);
        if self.is_extracted(&name) {
            return;
        }
        self.put(
            Cow::Owned(name.into_owned()),
            Cow::Owned(value.to_owned()),
            Source::Parsed,
        );
    }

    /// Sets a label as a stage result (`label_format`, extraction expressions): replaces any
    /// value of that name, the stream's included.
    pub(crate) fn set(&mut self, name: &str, value: String) {
        self.put(
            Cow::Owned(name.to_owned()),
            Cow::Owned(value),
            Source::Parsed,
        );
    }

    fn put(&mut self, name: Cow<'a, str>, value: Cow<'a, str>, source: Source) {
        match self.added.iter_mut().find(|a| a.name == name) {
            Some(a) => {
                a.value = value;
                a.source = source;
            }
            None => self.added.push(Added {
                name,
                value,
                source,
            }),
        }
    }

    /// Removes a label from every source.
    pub(crate) fn delete(&mut self, name: &str) {
        self.added.retain(|a| a.name != name);
        if self.stream.get(name).is_some() && !self.hidden.iter().any(|h| h == name) {
            self.hidden.push(name.to_owned());
        }
    }

    pub(crate) fn err(&self) -> &str {
        &self.err
    }

    pub(crate) fn has_err(&self) -> bool {
        !self.err.is_empty()
    }

    pub(crate) fn err_details(&self) -> &str {
        &self.err_details
    }

    pub(crate) fn set_err(&mut self, err: &str, details: impl Into<String>) {
        self.err = err.to_owned();
        self.err_details = details.into();
    }

    pub(crate) fn clear_err(&mut self) {
        self.err.clear();
    }

    pub(crate) fn clear_err_details(&mut self) {
        self.err_details.clear();
    }

    /// Every visible label (without the error labels), unsorted.
    pub(crate) fn visible(&self) -> Vec<(&str, &str)> {
        let mut out: Vec<(&str, &str)> = self
            .stream
            .iter()
            .filter(|l| !self.hidden.contains(&l.name))
            .filter(|l| !self.added.iter().any(|a| a.name == l.name))
            .map(|l| (l.name.as_str(), l.value.as_str()))
            .collect();
        out.extend(self.added.iter().map(|a| (&*a.name, &*a.value)));
        out
    }

    /// The final, sorted label set, with the error labels when set.
    pub(crate) fn finish(self) -> Labels {
        let unchanged = self.added.is_empty() && self.hidden.is_empty();
        if unchanged && self.err.is_empty() && self.err_details.is_empty() {
            return self.stream.clone();
        }
        let mut out: Vec<Label> = Vec::with_capacity(self.stream.len() + self.added.len() + 2);
        out.extend(
            self.stream
                .iter()
                .filter(|l| !self.hidden.contains(&l.name))
                .filter(|l| !self.added.iter().any(|a| a.name == l.name))
                .cloned(),
        );
        // added labels move out: parsed values are not copied again
        out.extend(
            self.added
                .into_iter()
                .map(|a| Label::new(a.name.into_owned(), a.value.into_owned())),
        );
        if !self.err.is_empty() {
            out.push(Label::new(ERROR_LABEL, self.err));
        }
        if !self.err_details.is_empty() {
            out.push(Label::new(ERROR_DETAILS_LABEL, self.err_details));
        }
        out.sort_unstable_by(|a, b| a.name.cmp(&b.name));
        out.dedup_by(|a, b| a.name == b.name);
        Labels::from_sorted(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(labels: &Labels) -> Vec<(String, String)> {
        labels
            .iter()
            .map(|l| (l.name.clone(), l.value.clone()))
            .collect()
    }

    fn expect(want: &[(&str, &str)]) -> Vec<(String, String)> {
        let mut v: Vec<(String, String)> = want
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect();
        v.sort();
        v
    }

    /// The precedence table of FORMAT.md: stream > metadata > parsed for the plain name,
    /// parsed > metadata > stream for `_extracted`.
    #[test]
    fn clash_rules() {
        let stream = Labels::from_pairs([("app", "a"), ("sl", "s"), ("sm", "s"), ("tri", "s")]);
        let metadata = Labels::from_pairs([("md", "m"), ("sm", "m"), ("tri", "m")]);
        let mut l = LineLabels::new(&stream, &metadata);
        for name in ["sl", "md", "tri"] {
            l.set_parsed_field(name, "p");
        }
        let got = pairs(&l.finish());
        assert_eq!(
            got,
            expect(&[
                ("app", "a"),
                ("sl", "s"),
                ("sl_extracted", "p"),
                ("md", "m"),
                ("md_extracted", "p"),
                ("sm", "s"),
                ("sm_extracted", "m"),
                ("tri", "s"),
                ("tri_extracted", "p"),
            ])
        );
    }

    #[test]
    fn first_parsed_value_wins_and_set_overrides() {
        let stream = Labels::from_pairs([("app", "a")]);
        let metadata = Labels::default();
        let mut l = LineLabels::new(&stream, &metadata);
        l.set_parsed_field("dup", "first");
        l.set_parsed_field("dup", "second");
        assert_eq!(l.get("dup"), Some("first"));
        l.set("app", "b".into());
        assert_eq!(l.get("app"), Some("b"));
        l.delete("app");
        assert_eq!(l.get("app"), None);
        l.set("app", "c".into());
        assert_eq!(
            pairs(&l.finish()),
            expect(&[("app", "c"), ("dup", "first")])
        );
    }

    #[test]
    fn error_labels_in_input_become_the_error() {
        let stream = Labels::from_pairs([
            ("app", "a"),
            (ERROR_LABEL, "SampleExtractionErr"),
            (ERROR_DETAILS_LABEL, "bad"),
        ]);
        let metadata = Labels::default();
        let mut l = LineLabels::new(&stream, &metadata);
        assert_eq!(l.err(), "SampleExtractionErr");
        assert_eq!(l.get(ERROR_LABEL), None);
        l.clear_err();
        l.clear_err_details();
        assert_eq!(pairs(&l.finish()), expect(&[("app", "a")]));
        let unchanged = LineLabels::new(&stream, &metadata).finish();
        assert_eq!(unchanged, stream);
    }

    #[test]
    fn errors_become_labels() {
        let stream = Labels::from_pairs([("app", "a")]);
        let metadata = Labels::default();
        let mut l = LineLabels::new(&stream, &metadata);
        l.set_err("JSONParserErr", "bad");
        assert_eq!(l.get_with_errors(ERROR_LABEL), Some("JSONParserErr"));
        assert_eq!(
            pairs(&l.finish()),
            expect(&[
                ("app", "a"),
                ("__error__", "JSONParserErr"),
                ("__error_details__", "bad")
            ])
        );
    }
}
