use super::*;
use sextant_model::MatchOp;

fn refs<'a>(pairs: &[(&'a str, &'a str)]) -> Vec<LabelRef<'a>> {
    pairs
        .iter()
        .map(|(name, value)| LabelRef { name, value })
        .collect()
}

#[test]
fn finds_existing_series_in_any_label_order() {
    let head = Head::new();
    let a = refs(&[("__name__", "up"), ("job", "x")]);
    let (s1, created) = head.get_or_create(&a, 0).unwrap();
    assert!(created);
    let reversed = refs(&[("job", "x"), ("__name__", "up")]);
    let (s2, created) = head.get_or_create(&reversed, 0).unwrap();
    assert!(!created);
    assert_eq!(s1.id, s2.id);
    let (s3, created) = head.get_or_create(&refs(&[("__name__", "up")]), 0).unwrap();
    assert!(created);
    assert_ne!(s3.id, s1.id);
    assert_eq!(head.series_count(), 2);
    assert_eq!(head.labels_of(&s2).to_string(), r#"up{job="x"}"#);
}

#[test]
fn max_series_limits_creation_only() {
    let head = Head::new();
    let a = refs(&[("a", "1")]);
    head.get_or_create(&a, 1).unwrap();
    assert_eq!(
        head.get_or_create(&refs(&[("a", "2")]), 1).err(),
        Some(RejectReason::MaxSeries)
    );
    assert!(head.get_or_create(&a, 1).is_ok());
    assert_eq!(head.series_count(), 1);
}

#[test]
fn recreate_keeps_wanted_ids_when_free() {
    let head = Head::new();
    let a = head.recreate(7, &refs(&[("a", "1")]));
    assert_eq!(a.id, 7);
    let again = head.recreate(9, &refs(&[("a", "1")]));
    assert_eq!(again.id, 7);
    let clash = head.recreate(7, &refs(&[("a", "2")]));
    assert_eq!(clash.id, 8);
    let absurd = head.recreate(u64::MAX, &refs(&[("a", "3")]));
    assert_eq!(absurd.id, 9);
    let (fresh, _) = head.get_or_create(&refs(&[("a", "4")]), 0).unwrap();
    assert_eq!(fresh.id, 10);
    assert_eq!(head.series_count(), 4);
}

#[test]
fn select_and_label_listing() {
    let head = Head::new();
    for (job, env) in [("api", "prod"), ("db", ""), ("web", "dev")] {
        let mut l = vec![("__name__", "up"), ("job", job)];
        if !env.is_empty() {
            l.push(("env", env));
        }
        head.get_or_create(&refs(&l), 0).unwrap();
    }
    let m = |op, n: &str, v: &str| Matcher::new(op, n, v).unwrap();
    let jobs = |matchers: &[Matcher]| -> Vec<String> {
        head.select(matchers)
            .iter()
            .map(|s| head.labels_of(s).get("job").unwrap_or("").to_owned())
            .collect()
    };
    assert_eq!(jobs(&[m(MatchOp::NotEqual, "env", "prod")]), ["db", "web"]);
    assert_eq!(
        jobs(&[m(MatchOp::RegexMatch, "job", "a.*|db")]),
        ["api", "db"]
    );
    assert_eq!(head.label_names(), ["__name__", "env", "job"]);
    assert_eq!(head.label_values("env"), ["dev", "prod"]);
}

#[test]
fn concurrent_creation_creates_each_series_once() {
    let head = Arc::new(Head::new());
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let head = head.clone();
            std::thread::spawn(move || {
                for i in 0..500 {
                    let v = i.to_string();
                    head.get_or_create(&refs(&[("i", &v)]), 0).unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(head.series_count(), 500);
    assert_eq!(head.select(&[]).len(), 500);
}

#[test]
fn stack_and_streaming_hashes_agree() {
    let long = "x".repeat(700);
    let cases: Vec<Vec<LabelRef<'_>>> = vec![
        vec![],
        refs(&[("a", "b")]),
        refs(&[("a", "b"), ("c", &long)]),
        refs(&[("a", &long), ("c", &long)]),
    ];
    for labels in cases {
        assert_eq!(hash_labels(&labels), hash_labels_streaming(&labels));
    }
    assert_ne!(
        hash_labels(&refs(&[("ab", "c")])),
        hash_labels(&refs(&[("a", "bc")]))
    );
    assert!(same(b"abc", b"abc") && !same(b"abc", b"abd") && !same(b"ab", b"abc"));
    assert!(
        same(long.as_bytes(), long.as_bytes())
            && !same(long.as_bytes(), "y".repeat(700).as_bytes())
    );
}

#[test]
fn series_keys_compare_exactly() {
    let key = series_key(&refs(&[("__name__", "up"), ("job", "a")]));
    let cases: &[(&[(&str, &str)], bool)] = &[
        (&[("__name__", "up"), ("job", "a")], true),
        (&[("__name__", "up"), ("job", "ab")], false),
        (&[("__name__", "up"), ("jo", "ba")], false),
        (&[("__name__", "up")], false),
        (&[("__name__", "up"), ("job", "a"), ("x", "y")], false),
        (&[("__name__", "upjob"), ("", "a")], false),
        (&[], false),
    ];
    for (labels, want) in cases {
        assert_eq!(key_equal(&key, &refs(labels)), *want, "{labels:?}");
    }
    assert!(key_equal(&series_key(&[]), &[]));
}

#[test]
fn long_label_sets_are_found_again() {
    let head = Head::new();
    let long = "v".repeat(2000);
    let l = refs(&[("a", &long), ("b", "1")]);
    let (s1, created) = head.get_or_create(&l, 0).unwrap();
    let (s2, again) = head.get_or_create(&l, 0).unwrap();
    assert!(created && !again);
    assert_eq!(s1.id, s2.id);
}
