//! A Kubernetes-like series catalogue, after `/work/shared/bench/gen.py`: per node a
//! node_exporter target, per pod cAdvisor containers, kube-state-metrics objects and an
//! instrumented application (request counters and a classic 12-bucket latency histogram).
//! About 9 labels per series; label sets are kept sorted by name.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::simulate::lognormal;

pub const PODS_PER_NODE: usize = 30;
pub const CPUS_PER_NODE: usize = 4;

const CPU_MODES: [(&str, f64); 8] = [
    ("idle", 0.62),
    ("iowait", 0.02),
    ("irq", 0.002),
    ("nice", 0.001),
    ("softirq", 0.01),
    ("steal", 0.002),
    ("system", 0.08),
    ("user", 0.25),
];

/// Upper bounds of the classic histogram buckets.
pub const LE: [&str; 12] = [
    "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "+Inf",
];

/// Share of requests per bin `(le[i-1], le[i]]`, for the two latency profiles.
pub const HIST_P: [[f64; 12]; 2] = [
    [
        0.02, 0.05, 0.15, 0.25, 0.22, 0.15, 0.08, 0.04, 0.02, 0.01, 0.005, 0.005,
    ],
    [
        0.55, 0.30, 0.10, 0.03, 0.01, 0.005, 0.003, 0.001, 0.001, 0.0, 0.0, 0.0,
    ],
];

/// Typical latency inside each bin, for `_sum`.
pub const HIST_MID: [f64; 12] = [
    0.003, 0.008, 0.018, 0.04, 0.075, 0.17, 0.37, 0.75, 1.7, 3.7, 7.5, 12.0,
];

const HANDLERS: [(&str, usize); 2] = [("/api/v1/items", 0), ("/healthz", 1)];
/// (method, code, share of the handler's traffic) per profile.
const CODES: [&[(&str, &str, f64)]; 2] = [
    &[
        ("GET", "200", 0.72),
        ("GET", "404", 0.03),
        ("GET", "500", 0.005),
        ("POST", "200", 0.24),
        ("POST", "500", 0.005),
    ],
    &[("GET", "200", 0.999), ("GET", "500", 0.001)],
];
const APPS: [&str; 20] = [
    "checkout",
    "cart",
    "payments",
    "search",
    "auth",
    "catalog",
    "frontend",
    "gateway",
    "orders",
    "shipping",
    "users",
    "inventory",
    "pricing",
    "recommend",
    "notify",
    "billing",
    "reports",
    "media",
    "ledger",
    "session",
];

/// How a series' value evolves from one scrape to the next.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Kind {
    /// `up`, `*_info`, phases, sizes.
    Const,
    /// CPU seconds: grows by `rate * dt` with noise, 0.01 resolution.
    CounterFloat { rate: f64 },
    /// Bytes, packets, requests: grows by a Poisson count of mean `rate * dt`.
    CounterInt { rate: f64 },
    /// Memory, filesystem: random walk in page-sized steps (`step` pages of sigma) within bounds.
    GaugeIntWalk { step: f64, lo: f64, hi: f64 },
    /// Load averages: random walk with 0.01 resolution.
    GaugeFloatWalk { sigma: f64 },
    /// Member of a [`HistogramGroup`], which drives its value.
    Histogram,
}

/// The series of one classic histogram: cumulative buckets, `_sum` and `_count`.
#[derive(Debug, Clone, PartialEq)]
pub struct HistogramGroup {
    /// Index into [`HIST_P`].
    pub profile: usize,
    /// Requests per second.
    pub rate: f64,
    pub buckets: [usize; 12],
    pub sum: usize,
    pub count: usize,
}

/// One series: its sorted label set, the scrape target it belongs to and its evolution.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesSpec {
    pub labels: Vec<(String, String)>,
    /// crc32 of the scrape target's name: decides the target's offset within the interval.
    pub target_hash: u32,
    pub kind: Kind,
    pub init: f64,
}

/// The whole catalogue; built node by node until it holds at least the requested series.
#[derive(Debug, Clone, PartialEq)]
pub struct Catalogue {
    pub series: Vec<SeriesSpec>,
    pub histograms: Vec<HistogramGroup>,
    pub nodes: usize,
    pub pods: usize,
}

type LabelSet = Vec<(&'static str, String)>;

impl Catalogue {
    /// Builds whole nodes until at least `series` series exist, then cuts to exactly `series`
    /// (histogram groups may then reference series past the cut: they are simulated, not sent).
    pub fn build(series: usize, seed: u64) -> Catalogue {
        let mut b = Builder {
            rng: StdRng::seed_from_u64(seed.wrapping_add(1)),
            cat: Catalogue {
                series: Vec::new(),
                histograms: Vec::new(),
                nodes: 0,
                pods: 0,
            },
        };
        while b.cat.series.len() < series {
            b.add_node();
        }
        b.cat.series.truncate(series);
        b.cat
    }

    pub fn avg_labels_per_series(&self) -> f64 {
        let total: usize = self.series.iter().map(|s| s.labels.len()).sum();
        total as f64 / self.series.len().max(1) as f64
    }
}

struct Builder {
    rng: StdRng,
    cat: Catalogue,
}

fn with(base: &LabelSet, extra: &[(&'static str, String)]) -> LabelSet {
    let mut l = base.clone();
    l.extend(extra.iter().cloned());
    l
}

fn pages(v: f64) -> f64 {
    (v / 4096.0).floor() * 4096.0
}

impl Builder {
    fn add(&mut self, name: &str, labels: &LabelSet, target: &str, kind: Kind, init: f64) -> usize {
        let mut l: Vec<(String, String)> = labels
            .iter()
            .map(|(n, v)| (n.to_string(), v.clone()))
            .collect();
        l.push(("__name__".to_string(), name.to_string()));
        l.sort();
        let target_hash = crc32fast::hash(target.as_bytes());
        self.cat.series.push(SeriesSpec {
            labels: l,
            target_hash,
            kind,
            init,
        });
        self.cat.series.len() - 1
    }

    fn hex(&mut self, n: usize) -> String {
        (0..n)
            .map(|_| char::from(b"0123456789abcdef"[self.rng.random_range(0..16)]))
            .collect()
    }

    fn pod_hash(&mut self, n: usize) -> String {
        const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
        (0..n)
            .map(|_| char::from(ALPHABET[self.rng.random_range(0..ALPHABET.len())]))
            .collect()
    }

    fn add_node(&mut self) {
        let i = self.cat.nodes;
        let instance = format!("node-{i:04}:9100");
        let base: LabelSet = vec![
            ("cluster", "bench".into()),
            ("job", "node-exporter".into()),
            ("namespace", "monitoring".into()),
            ("container", "node-exporter".into()),
            ("endpoint", "https".into()),
            ("pod", format!("node-exporter-{}", self.pod_hash(5))),
            ("instance", instance.clone()),
        ];
        let tgt = format!("ne/{instance}");
        let uptime = self.rng.random_range(86400.0..30.0 * 86400.0);
        let load = self.rng.random_range(0.3..1.6);
        self.add("up", &base, &tgt, Kind::Const, 1.0);
        self.add_node_cpu(&base, &tgt, uptime, load);
        self.add_node_memory(&base, &tgt);
        self.add_node_io(&base, &tgt, uptime);
        let node = format!("node-{i:04}");
        for _ in 0..PODS_PER_NODE {
            self.add_pod(&node, i);
            self.cat.pods += 1;
        }
        self.cat.nodes += 1;
    }

    fn add_node_cpu(&mut self, base: &LabelSet, tgt: &str, uptime: f64, load: f64) {
        for cpu in 0..CPUS_PER_NODE {
            for (mode, share) in CPU_MODES {
                let busy = if mode == "idle" { 1.0 } else { load };
                let rate = share * busy * self.rng.random_range(0.8..1.2);
                let l = with(base, &[("cpu", cpu.to_string()), ("mode", mode.into())]);
                let init = (rate * uptime * 100.0).round() / 100.0;
                self.add(
                    "node_cpu_seconds_total",
                    &l,
                    tgt,
                    Kind::CounterFloat { rate },
                    init,
                );
            }
        }
        for (name, sigma) in [
            ("node_load1", 0.08),
            ("node_load5", 0.03),
            ("node_load15", 0.01),
        ] {
            let init = (load * CPUS_PER_NODE as f64 * 30.0).round() / 100.0;
            self.add(name, base, tgt, Kind::GaugeFloatWalk { sigma }, init);
        }
    }

    fn add_node_memory(&mut self, base: &LabelSet, tgt: &str) {
        let total = [16.0, 32.0, 64.0][self.rng.random_range(0..3)] * (1u64 << 30) as f64;
        self.add("node_memory_MemTotal_bytes", base, tgt, Kind::Const, total);
        for (name, frac) in [
            ("node_memory_MemAvailable_bytes", 0.5),
            ("node_memory_MemFree_bytes", 0.2),
            ("node_memory_Cached_bytes", 0.25),
            ("node_memory_Buffers_bytes", 0.02),
        ] {
            let v = pages(total * frac * self.rng.random_range(0.7..1.3));
            let kind = Kind::GaugeIntWalk {
                step: 256.0,
                lo: v * 0.8,
                hi: v * 1.2,
            };
            self.add(name, base, tgt, kind, v);
        }
        for (dev, fs, mp, size) in [
            ("/dev/sda1", "ext4", "/", 100.0),
            ("/dev/sdb1", "xfs", "/var/lib/kubelet", 500.0),
        ] {
            let l = with(
                base,
                &[
                    ("device", dev.into()),
                    ("fstype", fs.into()),
                    ("mountpoint", mp.into()),
                ],
            );
            let size = size * (1u64 << 30) as f64;
            let avail = pages(size * self.rng.random_range(0.3..0.8));
            self.add("node_filesystem_size_bytes", &l, tgt, Kind::Const, size);
            let kind = Kind::GaugeIntWalk {
                step: 64.0,
                lo: avail * 0.5,
                hi: avail,
            };
            self.add("node_filesystem_avail_bytes", &l, tgt, kind, avail);
        }
    }

    fn add_node_io(&mut self, base: &LabelSet, tgt: &str, uptime: f64) {
        for (dev, bps) in [("eth0", 2e6), ("lo", 2e5)] {
            let l = with(base, &[("device", dev.into())]);
            let rx = bps * lognormal(&mut self.rng, 0.0, 0.5);
            let tx = bps * lognormal(&mut self.rng, -0.3, 0.5);
            for (name, rate) in [
                ("node_network_receive_bytes_total", rx),
                ("node_network_transmit_bytes_total", tx),
                ("node_network_receive_packets_total", rx / 900.0),
                ("node_network_transmit_packets_total", tx / 900.0),
            ] {
                self.add(
                    name,
                    &l,
                    tgt,
                    Kind::CounterInt { rate },
                    (rate * uptime).floor(),
                );
            }
        }
        for dev in ["sda", "sdb"] {
            let l = with(base, &[("device", dev.into())]);
            let rd = 5e5 * lognormal(&mut self.rng, 0.0, 0.7);
            let wr = 2e6 * lognormal(&mut self.rng, 0.0, 0.7);
            let io = 0.05 * self.rng.random_range(0.2..2.0);
            let sectors = |v: f64| (v / 512.0).floor() * 512.0;
            self.add(
                "node_disk_read_bytes_total",
                &l,
                tgt,
                Kind::CounterInt { rate: rd },
                sectors(rd * uptime),
            );
            self.add(
                "node_disk_written_bytes_total",
                &l,
                tgt,
                Kind::CounterInt { rate: wr },
                sectors(wr * uptime),
            );
            let init = (io * uptime * 100.0).round() / 100.0;
            self.add(
                "node_disk_io_time_seconds_total",
                &l,
                tgt,
                Kind::CounterFloat { rate: io },
                init,
            );
        }
    }
}

struct Pod {
    node: String,
    node_index: usize,
    app: String,
    ns: String,
    name: String,
    uid: String,
    ip: String,
    uptime: f64,
    k: usize,
}

impl Builder {
    fn add_pod(&mut self, node: &str, node_index: usize) {
        let k = self.cat.pods;
        let suffix = if k < 200 {
            String::new()
        } else {
            ((k / 200) % 50).to_string()
        };
        let app = format!("{}{suffix}", APPS[k % APPS.len()]);
        let name = format!("{app}-{}-{}", self.hex(10), self.pod_hash(5));
        let uid = format!(
            "{}-{}-{}-{}-{}",
            self.hex(8),
            self.hex(4),
            self.hex(4),
            self.hex(4),
            self.hex(12)
        );
        let pod = Pod {
            node: node.to_string(),
            node_index,
            ns: format!("ns-{}", (k * 7) % 25),
            ip: format!("10.{}.{}.{}", (k >> 16) & 255, (k >> 8) & 255, k & 255),
            uptime: self.rng.random_range(600.0..7.0 * 86400.0),
            app,
            name,
            uid,
            k,
        };
        self.add_cadvisor(&pod);
        self.add_kube_state(&pod);
        self.add_app(&pod);
    }

    /// kubelet / cAdvisor: one target per node, long `id` and `image` labels.
    fn add_cadvisor(&mut self, p: &Pod) {
        let base: LabelSet = vec![
            ("cluster", "bench".into()),
            ("job", "kubelet".into()),
            ("endpoint", "https-metrics".into()),
            ("service", "kubelet".into()),
            ("metrics_path", "/metrics/cadvisor".into()),
            ("instance", p.node.clone()),
            ("namespace", p.ns.clone()),
            ("pod", p.name.clone()),
        ];
        let tgt = format!("kubelet/{}", p.node);
        for cname in ["app", "istio-proxy"] {
            let image_name = if cname == "app" {
                p.app.as_str()
            } else {
                cname
            };
            let image = format!("registry.local/{image_name}:1.{}.{}", p.k % 7, p.k % 3);
            let id = format!("/kubepods/burstable/pod{}/{}", p.uid, self.hex(64));
            let l = with(
                &base,
                &[("container", cname.into()), ("image", image), ("id", id)],
            );
            let cpu = if cname == "app" {
                lognormal(&mut self.rng, -2.5, 1.0)
            } else {
                lognormal(&mut self.rng, -4.0, 0.5)
            };
            let init = (cpu * p.uptime * 1e6).round() / 1e6;
            self.add(
                "container_cpu_usage_seconds_total",
                &l,
                &tgt,
                Kind::CounterFloat { rate: cpu },
                init,
            );
            let mem = pages(lognormal(&mut self.rng, 19.0, 0.8));
            let kind = Kind::GaugeIntWalk {
                step: 512.0,
                lo: mem * 0.7,
                hi: mem * 1.5,
            };
            self.add("container_memory_working_set_bytes", &l, &tgt, kind, mem);
        }
    }

    /// kube-state-metrics: a single target for the whole cluster.
    fn add_kube_state(&mut self, p: &Pod) {
        let base: LabelSet = vec![
            ("cluster", "bench".into()),
            ("job", "kube-state-metrics".into()),
            ("instance", "10.0.0.2:8080".into()),
            ("namespace", p.ns.clone()),
            ("pod", p.name.clone()),
            ("uid", p.uid.clone()),
        ];
        let tgt = "ksm";
        let running = self.rng.random::<f64>() > 0.03;
        for phase in ["Failed", "Pending", "Running", "Succeeded", "Unknown"] {
            let on = match phase {
                "Running" => running,
                "Pending" => !running,
                _ => false,
            };
            let l = with(&base, &[("phase", phase.into())]);
            self.add(
                "kube_pod_status_phase",
                &l,
                tgt,
                Kind::Const,
                f64::from(u8::from(on)),
            );
        }
        for cname in ["app", "istio-proxy"] {
            let l = with(&base, &[("container", cname.into())]);
            let restarts = crate::simulate::poisson(&mut self.rng, 0.3);
            let kind = Kind::CounterInt { rate: 2e-5 };
            self.add(
                "kube_pod_container_status_restarts_total",
                &l,
                tgt,
                kind,
                restarts,
            );
        }
        let n = p.node_index;
        let created_by = p.name.rsplit_once('-').map_or(p.name.as_str(), |(a, _)| a);
        let l = with(
            &base,
            &[
                ("host_ip", format!("10.1.{}.{}", (n >> 8) & 255, n & 255)),
                ("pod_ip", p.ip.clone()),
                ("node", p.node.clone()),
                ("created_by_kind", "ReplicaSet".into()),
                ("created_by_name", created_by.into()),
                ("host_network", "false".into()),
                ("priority_class", "default".into()),
            ],
        );
        self.add("kube_pod_info", &l, tgt, Kind::Const, 1.0);
    }

    /// The instrumented application: `up`, request counters, latency histograms, process.
    fn add_app(&mut self, p: &Pod) {
        let base: LabelSet = vec![
            ("cluster", "bench".into()),
            ("job", format!("{}/{}", p.ns, p.app)),
            ("instance", format!("{}:8080", p.ip)),
            ("namespace", p.ns.clone()),
            ("pod", p.name.clone()),
            ("container", "app".into()),
        ];
        let tgt = format!("app/{}", p.name);
        self.add("up", &base, &tgt, Kind::Const, 1.0);
        let rps_api = lognormal(&mut self.rng, 1.0, 1.0);
        for (handler, profile) in HANDLERS {
            let rps = if profile == 0 { rps_api } else { 0.1 };
            for (method, code, share) in CODES[profile] {
                let l = with(
                    &base,
                    &[
                        ("handler", handler.into()),
                        ("method", (*method).into()),
                        ("code", (*code).into()),
                    ],
                );
                let rate = rps * share;
                self.add(
                    "http_requests_total",
                    &l,
                    &tgt,
                    Kind::CounterInt { rate },
                    (rate * p.uptime).floor(),
                );
            }
            self.add_histogram(&base, &tgt, handler, profile, rps, p.uptime);
        }
        let cpu_rate = 0.05 * self.rng.random_range(0.2..3.0);
        let init = (0.05 * p.uptime * 100.0).round() / 100.0;
        self.add(
            "process_cpu_seconds_total",
            &base,
            &tgt,
            Kind::CounterFloat { rate: cpu_rate },
            init,
        );
        let m = pages(lognormal(&mut self.rng, 18.5, 0.6));
        let kind = Kind::GaugeIntWalk {
            step: 128.0,
            lo: m * 0.8,
            hi: m * 1.3,
        };
        self.add("process_resident_memory_bytes", &base, &tgt, kind, m);
    }

    /// A classic histogram whose initial state is ~uptime worth of traffic.
    fn add_histogram(
        &mut self,
        base: &LabelSet,
        tgt: &str,
        handler: &str,
        profile: usize,
        rps: f64,
        uptime: f64,
    ) {
        let served = (rps * uptime).floor();
        let mut cumulative = 0.0;
        let mut sum = 0.0;
        let mut buckets = [0; 12];
        for (j, le) in LE.iter().enumerate() {
            let in_bin = (HIST_P[profile][j] * served).floor();
            cumulative += in_bin;
            sum += in_bin * HIST_MID[j];
            let l = with(base, &[("handler", handler.into()), ("le", (*le).into())]);
            buckets[j] = self.add(
                "http_request_duration_seconds_bucket",
                &l,
                tgt,
                Kind::Histogram,
                cumulative,
            );
        }
        let l = with(base, &[("handler", handler.into())]);
        let sum_idx = self.add(
            "http_request_duration_seconds_sum",
            &l,
            tgt,
            Kind::Histogram,
            (sum * 1000.0).round() / 1000.0,
        );
        let count = self.add(
            "http_request_duration_seconds_count",
            &l,
            tgt,
            Kind::Histogram,
            cumulative,
        );
        self.cat.histograms.push(HistogramGroup {
            profile,
            rate: rps,
            buckets,
            sum: sum_idx,
            count,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_exactly_the_requested_series_with_sorted_unique_label_sets() {
        for n in [1, 59, 1559, 2000, 5000] {
            let cat = Catalogue::build(n, 42);
            assert_eq!(cat.series.len(), n);
            let mut seen = std::collections::HashSet::new();
            for s in &cat.series {
                assert!(
                    s.labels.windows(2).all(|w| w[0].0 < w[1].0),
                    "{:?}",
                    s.labels
                );
                assert_eq!(s.labels[0].0, "__name__");
                assert!(seen.insert(s.labels.clone()), "duplicate {:?}", s.labels);
            }
        }
    }

    #[test]
    fn is_deterministic_and_realistic() {
        let a = Catalogue::build(3000, 7);
        assert_eq!(a, Catalogue::build(3000, 7));
        assert_ne!(a, Catalogue::build(3000, 8));
        let avg = a.avg_labels_per_series();
        assert!((8.0..12.0).contains(&avg), "avg labels {avg}");
        // one node = 59 node_exporter series + 30 pods x 50 series
        assert_eq!(Catalogue::build(1559, 1).nodes, 1);
        assert_eq!(Catalogue::build(1560, 1).nodes, 2);
    }

    #[test]
    fn histogram_groups_start_cumulative_and_consistent() {
        let cat = Catalogue::build(1559, 3);
        assert_eq!(cat.histograms.len(), 60);
        for h in &cat.histograms {
            let v: Vec<f64> = h.buckets.iter().map(|&i| cat.series[i].init).collect();
            assert!(v.windows(2).all(|w| w[0] <= w[1]));
            assert_eq!(v[11], cat.series[h.count].init);
        }
    }
}
