//! Fragments of one trace (from replicas, ingesters, blocks) merged into one trace.

use std::collections::HashSet;

use sextant_proto::otlp::trace::v1::{ResourceSpans, ScopeSpans};

use crate::model::Trace;

/// One trace holding every span of `fragments` once (by span ID; the first copy wins). Spans
/// under equal resources (and equal scopes within them) are grouped together, in first-seen
/// order. The ID is the first fragment's; no fragments give an empty trace.
pub fn merge_traces(fragments: Vec<Trace>) -> Trace {
    let id = fragments.first().map(|t| t.id).unwrap_or_default();
    let mut seen: HashSet<Vec<u8>> = HashSet::new();
    let mut out: Vec<ResourceSpans> = Vec::new();
    for resource_spans in fragments.into_iter().flat_map(|t| t.resource_spans) {
        let ResourceSpans {
            resource,
            scope_spans,
            schema_url,
        } = resource_spans;
        let r = match out
            .iter()
            .position(|o| o.resource == resource && o.schema_url == schema_url)
        {
            Some(r) => r,
            None => {
                out.push(ResourceSpans {
                    resource,
                    scope_spans: Vec::new(),
                    schema_url,
                });
                out.len() - 1
            }
        };
        for scope_spans in scope_spans {
            add_scope(&mut out[r].scope_spans, scope_spans, &mut seen);
        }
    }
    out.retain(|r| !r.scope_spans.is_empty());
    Trace {
        id,
        resource_spans: out,
    }
}

fn add_scope(out: &mut Vec<ScopeSpans>, incoming: ScopeSpans, seen: &mut HashSet<Vec<u8>>) {
    let ScopeSpans {
        scope,
        spans,
        schema_url,
    } = incoming;
    let spans: Vec<_> = spans
        .into_iter()
        .filter(|s| seen.insert(s.span_id.clone()))
        .collect();
    if spans.is_empty() {
        return;
    }
    match out
        .iter_mut()
        .find(|o| o.scope == scope && o.schema_url == schema_url)
    {
        Some(known) => known.spans.extend(spans),
        None => out.push(ScopeSpans {
            scope,
            spans,
            schema_url,
        }),
    }
}

#[cfg(test)]
mod tests {
    use sextant_proto::otlp::common::v1::InstrumentationScope;
    use sextant_proto::otlp::resource::v1::Resource;
    use sextant_proto::otlp::trace::v1::Span;

    use super::*;
    use crate::model::tests::attr;
    use crate::model::TraceId;

    /// Per scope name, the last bytes of its span IDs.
    type Scopes<'a> = &'a [(&'a str, &'a [u8])];

    /// A fragment: per resource (service name), its scopes.
    fn fragment(resources: &[(&str, Scopes<'_>)]) -> Trace {
        Trace {
            id: TraceId([1; 16]),
            resource_spans: resources
                .iter()
                .map(|(service, scopes)| ResourceSpans {
                    resource: Some(Resource {
                        attributes: vec![attr("service.name", service)],
                        ..Default::default()
                    }),
                    scope_spans: scopes
                        .iter()
                        .map(|(scope, spans)| ScopeSpans {
                            scope: Some(InstrumentationScope {
                                name: (*scope).into(),
                                ..Default::default()
                            }),
                            spans: spans
                                .iter()
                                .map(|s| Span {
                                    span_id: vec![0, 0, 0, 0, 0, 0, 0, *s],
                                    ..Default::default()
                                })
                                .collect(),
                            schema_url: String::new(),
                        })
                        .collect(),
                    schema_url: String::new(),
                })
                .collect(),
        }
    }

    /// (service, scope, last byte of each span ID) in order.
    fn shape(t: &Trace) -> Vec<(String, String, Vec<u8>)> {
        t.resource_spans
            .iter()
            .flat_map(|r| {
                let service = match &r.resource.as_ref().unwrap().attributes[0].value {
                    Some(v) => format!("{v:?}"),
                    None => String::new(),
                };
                r.scope_spans.iter().map(move |s| {
                    (
                        service.clone(),
                        s.scope.as_ref().unwrap().name.clone(),
                        s.spans.iter().map(|s| s.span_id[7]).collect(),
                    )
                })
            })
            .collect()
    }

    #[test]
    fn merges_fragments() {
        type Shape = Vec<(&'static str, &'static str, Vec<u8>)>;
        let cases: Vec<(&str, Vec<Trace>, Shape)> = vec![
            ("nothing", vec![], vec![]),
            (
                "replicas collapse",
                vec![
                    fragment(&[("a", &[("s", &[1, 2])])]),
                    fragment(&[("a", &[("s", &[1, 2])])]),
                ],
                vec![("a", "s", vec![1, 2])],
            ),
            (
                "same resource and scope grouped",
                vec![
                    fragment(&[("a", &[("s", &[1])]), ("b", &[("t", &[3])])]),
                    fragment(&[("b", &[("t", &[4]), ("u", &[5])]), ("a", &[("s", &[2, 1])])]),
                ],
                vec![
                    ("a", "s", vec![1, 2]),
                    ("b", "t", vec![3, 4]),
                    ("b", "u", vec![5]),
                ],
            ),
            (
                "a resource with only duplicates disappears",
                vec![
                    fragment(&[("a", &[("s", &[1])])]),
                    fragment(&[("b", &[("s", &[1])])]),
                ],
                vec![("a", "s", vec![1])],
            ),
        ];
        for (name, fragments, want) in cases {
            let merged = merge_traces(fragments);
            let got = shape(&merged);
            let want: Vec<(String, String, Vec<u8>)> = want
                .into_iter()
                .map(|(r, s, ids)| {
                    let service = format!("{:?}", attr("service.name", r).value.unwrap());
                    (service, s.to_owned(), ids)
                })
                .collect();
            assert_eq!(got, want, "{name}");
        }
    }

    proptest::proptest! {
        /// Whatever the fragments, every span ID they hold comes out exactly once, and spans
        /// stay under their resource.
        #[test]
        fn each_span_once(
            fragments in proptest::collection::vec(
                proptest::collection::vec((0u8..3, 0u8..2, 0u8..12), 0..8),
                0..5,
            )
        ) {
            let traces: Vec<Trace> = fragments
                .iter()
                .map(|spans| {
                    let mut t = Trace { id: TraceId([1; 16]), resource_spans: vec![] };
                    for (service, scope, span) in spans {
                        let service = ["a", "b", "c"][*service as usize];
                        let scope = ["s", "t"][*scope as usize];
                        let f = fragment(&[(service, &[(scope, &[*span][..])])]);
                        t.resource_spans.extend(f.resource_spans);
                    }
                    t
                })
                .collect();
            let mut want: Vec<u8> = fragments.iter().flatten().map(|(_, _, s)| *s).collect();
            want.sort_unstable();
            want.dedup();
            let merged = merge_traces(traces);
            let mut got: Vec<u8> = merged.spans().map(|s| s.span_id[7]).collect();
            got.sort_unstable();
            proptest::prop_assert_eq!(got, want);
            let resources: Vec<_> = merged.resource_spans.iter().map(|r| &r.resource).collect();
            for (i, r) in resources.iter().enumerate() {
                proptest::prop_assert!(!resources[i + 1..].contains(r), "resource repeated");
            }
        }
    }
}
