//! A three-node MariaDB Galera cluster (Debian `mariadb-server` + `galera-4`), started by the
//! test on 127.0.0.1 with its own ports and data directories, one `wardgate run` controller
//! per node (each with all three hosts in `database.url`, its own node first):
//!
//! - a write through node 1 is decided on at node 3 (and the propagation p50/p95 over 50
//!   changes is printed for BENCHMARKS.md);
//! - node 2 is killed (SIGKILL): controllers 1 and 3 keep deciding and writing, controller 2
//!   keeps deciding from memory and fails over to another node;
//! - node 2 rejoins (state transfer); afterwards every node of the cluster holds every
//!   controller's events exactly once — as many decision events as decisions answered — and
//!   each chain verifies.
//!
//! The server on 127.0.0.1:3306 is not touched. `scripts/setup-mariadb.sh` installs galera-4
//! and rsync; `WARDGATE_TEST_MYSQL=skip` skips this test with the other MySQL ones.

mod common;
mod fleet;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{face, perturbed};
use fleet::{free_port, percentiles, Controller, Tokens};
use reqwest::Method;
use serde_json::json;
use wardgate::config::DatabaseConfig;
use wardgate::store::Store;

const PROVIDER: &str = "/usr/lib/galera/libgalera_smm.so";
const WITHIN: Duration = Duration::from_secs(2);
/// While a killed node is being evicted (`evs.suspect_timeout` below) the cluster holds
/// commits back; decisions keep flowing from memory, writes wait.
const DURING_OUTAGE: Duration = Duration::from_secs(15);

struct Node {
    dir: PathBuf,
    port: u16,
    child: Option<Child>,
}

/// The cluster; dropping it kills the servers and removes their data.
struct Cluster {
    _root: tempfile::TempDir,
    nodes: Vec<Node>,
    as_mysql: bool,
}

fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Cluster {
    fn start() -> Self {
        assert!(
            Path::new(PROVIDER).exists() && Path::new("/usr/sbin/mariadbd").exists(),
            "Galera test needs mariadb-server and galera-4 (scripts/setup-mariadb.sh installs them)"
        );
        // As root the servers run as `mysql` (rsync's state transfer daemon drops root
        // privileges to `nobody`, which could not write a root-owned data directory).
        let as_mysql = nix::unistd::geteuid().is_root();
        let root = tempfile::tempdir().unwrap();
        std::fs::set_permissions(
            root.path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .unwrap();
        let seed = root.path().join("seed");
        let mut init = Command::new("mariadb-install-db");
        init.arg("--no-defaults")
            .arg(format!("--datadir={}", seed.display()))
            .arg("--auth-root-authentication-method=normal")
            .arg("--skip-test-db")
            .arg("--innodb-log-file-size=8M")
            .arg("--innodb-buffer-pool-size=32M");
        if as_mysql {
            init.arg("--user=mysql");
        }
        run(&mut init);
        let ports: Vec<[u16; 4]> = (0..3)
            .map(|_| [free_port(), free_port(), free_port(), free_port()])
            .collect();
        let address = format!(
            "gcomm://{}",
            ports
                .iter()
                .map(|p| format!("127.0.0.1:{}", p[1]))
                .collect::<Vec<_>>()
                .join(",")
        );
        let mut nodes = Vec::new();
        for (i, [port, gcomm, ist, sst]) in ports.into_iter().enumerate() {
            let dir = root.path().join(format!("node{}", i + 1));
            std::fs::create_dir(&dir).unwrap();
            run(Command::new("cp")
                .arg("-a")
                .arg(&seed)
                .arg(dir.join("data")));
            let d = dir.display();
            let user = if as_mysql { "user=mysql\n" } else { "" };
            std::fs::write(
                dir.join("my.cnf"),
                format!(
                    "[mariadbd]\n{user}datadir={d}/data\nport={port}\nbind-address=127.0.0.1\n\
                     socket={d}/mysqld.sock\npid-file={d}/mysqld.pid\nlog-error={d}/error.log\n\
                     skip-log-bin\nbinlog_format=ROW\ninnodb_autoinc_lock_mode=2\n\
                     innodb_buffer_pool_size=32M\ninnodb_log_file_size=8M\nperformance_schema=OFF\n\
                     wsrep_on=ON\nwsrep_provider={PROVIDER}\nwsrep_cluster_name=wardgate_test\n\
                     wsrep_cluster_address={address}\nwsrep_node_address=127.0.0.1:{gcomm}\n\
                     wsrep_node_name=node{n}\n\
                     wsrep_provider_options=\"gmcast.listen_addr=tcp://127.0.0.1:{gcomm};\
                     ist.recv_addr=127.0.0.1:{ist};gcache.size=32M;evs.keepalive_period=PT0.5S;\
                     evs.suspect_timeout=PT2S;\
                     evs.inactive_timeout=PT3S;evs.inactive_check_period=PT0.5S\"\n\
                     wsrep_sst_method=rsync\nwsrep_sst_receive_address=127.0.0.1:{sst}\n",
                    n = i + 1
                ),
            )
            .unwrap();
            nodes.push(Node {
                dir,
                port,
                child: None,
            });
        }
        if as_mysql {
            run(Command::new("chown")
                .arg("-R")
                .arg("mysql:mysql")
                .arg(root.path()));
        }
        Self {
            _root: root,
            nodes,
            as_mysql,
        }
    }

    fn spawn(&mut self, i: usize, bootstrap: bool) {
        let n = &mut self.nodes[i];
        let mut cmd = Command::new("/usr/sbin/mariadbd");
        cmd.arg(format!(
            "--defaults-file={}",
            n.dir.join("my.cnf").display()
        ));
        if bootstrap {
            cmd.arg("--wsrep-new-cluster");
        }
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        n.child = Some(cmd.spawn().expect("starting mariadbd"));
    }

    fn url(&self, i: usize, db: &str) -> String {
        format!("mysql://root@127.0.0.1:{}/{db}", self.nodes[i].port)
    }

    /// All hosts, node `first` first.
    fn fleet_url(&self, first: usize, db: &str) -> String {
        let mut order: Vec<usize> = (0..self.nodes.len()).collect();
        order.rotate_left(first);
        let hosts: Vec<String> = order
            .iter()
            .map(|&i| format!("127.0.0.1:{}", self.nodes[i].port))
            .collect();
        format!("mysql://root@{}/{db}", hosts.join(","))
    }

    /// One status value of node `i`, `None` while it does not answer.
    async fn status(&self, i: usize, name: &str) -> Option<String> {
        use sqlx::Connection;
        sqlx::any::install_default_drivers();
        let mut c = tokio::time::timeout(
            Duration::from_secs(2),
            sqlx::AnyConnection::connect(&self.url(i, "")),
        )
        .await
        .ok()?
        .ok()?;
        let row: (String,) = sqlx::query_as(
            "SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME = ?",
        )
        .bind(name)
        .fetch_one(&mut c)
        .await
        .ok()?;
        Some(row.0)
    }

    /// Waits until node `i` is Synced in a cluster of `size`.
    async fn wait_synced(&mut self, i: usize, size: usize) {
        if let Err(log) = self.synced_or_exited(i, size).await {
            panic!("node {} exited: {log}", i + 1);
        }
    }

    /// Starts node `i` again into the running cluster, as its service manager would
    /// (`Restart=on-failure`): a start that gives up because gcomm reached no primary view in
    /// time (the others still evicting its killed incarnation) is retried, up to three starts.
    async fn rejoin(&mut self, i: usize, size: usize) {
        for attempt in 1..=3 {
            self.spawn(i, false);
            match self.synced_or_exited(i, size).await {
                Ok(()) => return,
                Err(log) if attempt < 3 => {
                    let last = log.lines().last().unwrap_or_default().to_owned();
                    eprintln!(
                        "node {} start {attempt} gave up ({last}); starting it again",
                        i + 1
                    );
                }
                Err(log) => panic!("node {} did not rejoin in 3 starts: {log}", i + 1),
            }
        }
    }

    /// Node `i` Synced in a cluster of `size`, or the tail of its error log when it exited.
    async fn synced_or_exited(&mut self, i: usize, size: usize) -> Result<(), String> {
        let until = Instant::now() + Duration::from_secs(90);
        loop {
            let state = self.status(i, "WSREP_LOCAL_STATE_COMMENT").await;
            let members = self.status(i, "WSREP_CLUSTER_SIZE").await;
            if state.as_deref() == Some("Synced") && members == Some(size.to_string()) {
                return Ok(());
            }
            if let Some(Ok(Some(st))) = self.nodes[i].child.as_mut().map(Child::try_wait) {
                self.nodes[i].child = None;
                return Err(format!("({st}) {}", self.error_log(i)));
            }
            assert!(
                Instant::now() < until,
                "node {} not synced ({state:?}, size {members:?}): {}",
                i + 1,
                self.error_log(i)
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    fn error_log(&self, i: usize) -> String {
        let log = std::fs::read_to_string(self.nodes[i].dir.join("error.log")).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(30).collect();
        tail.into_iter().rev().collect::<Vec<_>>().join("\n")
    }

    fn kill(&mut self, i: usize) {
        if let Some(mut c) = self.nodes[i].child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for i in 0..self.nodes.len() {
            self.kill(i);
        }
        let _ = self.as_mysql;
    }
}

async fn store_at(url: &str) -> Store {
    let cfg = DatabaseConfig {
        url: url.to_owned(),
        ..DatabaseConfig::default()
    };
    Store::connect(&cfg).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_controllers_on_a_three_node_galera_cluster() {
    if common::mysql_skipped() {
        eprintln!("WARDGATE_TEST_MYSQL=skip: not testing Galera");
        return;
    }
    let started = Instant::now();
    let mut cluster = Cluster::start();
    cluster.spawn(0, true);
    cluster.wait_synced(0, 1).await;
    cluster.spawn(1, false);
    cluster.spawn(2, false);
    cluster.wait_synced(1, 3).await;
    cluster.wait_synced(2, 3).await;
    eprintln!("cluster of 3 synced after {:?}", started.elapsed());
    {
        use sqlx::Connection;
        let mut c = sqlx::AnyConnection::connect(&cluster.url(0, ""))
            .await
            .unwrap();
        sqlx::query("CREATE DATABASE wardgate CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
            .execute(&mut c)
            .await
            .unwrap();
    }
    let store = store_at(&cluster.url(0, "wardgate")).await;
    store.migrate().await.unwrap();
    let tokens = Tokens::install(&store).await;
    let dir = tempfile::tempdir().unwrap();
    let mut ctl: Vec<Controller> = (0..3)
        .map(|i| {
            Controller::start(
                &format!("galera-{}", i + 1),
                &cluster.fleet_url(i, "wardgate"),
                dir.path(),
                &[],
            )
        })
        .collect();
    for c in &mut ctl {
        c.wait_ready().await;
    }
    let probe = perturbed(7, 0.3, 3);

    // A write through node 1 is decided on at node 3.
    let (s, _) = ctl[0]
        .post(
            "/api/v1/doors",
            &tokens.admin,
            json!({"id": "icu", "name": "ICU", "mode": "staff"}),
        )
        .await;
    assert_eq!(s, 201);
    let (s, nurse) = ctl[0]
        .post(
            "/api/v1/subjects",
            &tokens.admin,
            json!({"external_id": "N7", "name": "Nurse Seven", "role": "nurse"}),
        )
        .await;
    assert_eq!(s, 201, "{nurse}");
    let nurse_id = nurse["id"].as_str().unwrap().to_owned();
    let (s, _) = ctl[0]
        .post(
            &format!("/api/v1/subjects/{nurse_id}/faces"),
            &tokens.admin,
            json!({"embedding": face(7)}),
        )
        .await;
    assert_eq!(s, 201);
    let grant = |c: usize| {
        let (c, t, id) = (&ctl[c], &tokens, nurse_id.clone());
        async move {
            let (s, g) = c
                .post(
                    "/api/v1/grants",
                    &t.admin,
                    json!({"staff_id": id, "door_id": "icu"}),
                )
                .await;
            assert_eq!(s, 201, "{g}");
            g["id"].as_str().unwrap().to_owned()
        }
    };
    let revoke = |c: usize, id: String| {
        let c = &ctl[c];
        let t = &tokens;
        async move {
            let (s, r) = c
                .call(
                    Method::DELETE,
                    &format!("/api/v1/grants/{id}"),
                    &t.admin,
                    None,
                )
                .await;
            assert_eq!(s, 200, "{r}");
        }
    };
    let g = grant(0).await;
    let t = Instant::now();
    let took = ctl[2]
        .until_reason(&tokens, "icu", &probe, "granted", t, WITHIN)
        .await;
    eprintln!("grant through node 1 → granted at node 3 after {took:?}");

    // Propagation, node 1 → node 3, 50 changes.
    let mut times = Vec::new();
    let mut active = Some(g);
    for _ in 0..50 {
        let want = match active.take() {
            Some(id) => {
                revoke(0, id).await;
                "not_permitted"
            }
            None => {
                active = Some(grant(0).await);
                "granted"
            }
        };
        let t = Instant::now();
        times.push(
            ctl[2]
                .until_reason(&tokens, "icu", &probe, want, t, WITHIN)
                .await,
        );
    }
    let (p50, p95) = percentiles(times.clone());
    eprintln!(
        "propagation node 1 → node 3 on Galera, {} changes: p50 {p50:?}, p95 {p95:?}, max {:?}",
        times.len(),
        times.iter().max().unwrap()
    );
    let active = match active {
        Some(id) => id,
        None => grant(0).await,
    };
    for c in &ctl {
        let t = Instant::now();
        c.until_reason(&tokens, "icu", &probe, "granted", t, WITHIN)
            .await;
    }

    // Node 2 dies.
    cluster.kill(1);
    let outage = Instant::now();
    // Every controller keeps deciding, from memory if need be.
    for round in 0..10 {
        for c in &ctl {
            assert_eq!(
                c.decide(&tokens, "icu", &probe).await,
                "granted",
                "{} in round {round} of the outage",
                c.name
            );
        }
    }
    // Writes through nodes 1 and 3 go on: a revocation on 3 reaches 1.
    revoke(2, active).await;
    let t = Instant::now();
    ctl[0]
        .until_reason(&tokens, "icu", &probe, "not_permitted", t, DURING_OUTAGE)
        .await;
    // Controller 2 fails over and writes again (until then it answers 503, try again
    // shortly): its grant reaches controller 3.
    let g2 = loop {
        let (s, g) = ctl[1]
            .post(
                "/api/v1/grants",
                &tokens.admin,
                json!({"staff_id": nurse_id, "door_id": "icu"}),
            )
            .await;
        if s == 201 {
            break g["id"].as_str().unwrap().to_owned();
        }
        assert_eq!(s, 503, "{g}");
        assert!(
            outage.elapsed() < DURING_OUTAGE,
            "controller 2 did not fail over"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    eprintln!(
        "controller 2 wrote again {:?} after node 2 died",
        outage.elapsed()
    );
    let t = Instant::now();
    ctl[2]
        .until_reason(&tokens, "icu", &probe, "granted", t, DURING_OUTAGE)
        .await;
    eprintln!(
        "outage of node 2: writes through every controller after {:?}",
        outage.elapsed()
    );
    for c in &ctl {
        for _ in 0..10 {
            c.decide(&tokens, "icu", &probe).await;
        }
    }

    // Node 2 rejoins.
    cluster.rejoin(1, 3).await;
    eprintln!("node 2 rejoined {:?} after it was killed", outage.elapsed());
    revoke(0, g2).await;
    for c in &ctl {
        let t = Instant::now();
        c.until_reason(&tokens, "icu", &probe, "not_permitted", t, WITHIN)
            .await;
        for _ in 0..10 {
            c.decide(&tokens, "icu", &probe).await;
        }
    }
    let decided: Vec<u64> = ctl.iter().map(Controller::decided).collect();
    for c in &ctl {
        c.wait_drained(&tokens, Duration::from_secs(60)).await;
    }
    for c in ctl {
        c.stop();
    }

    // Every node of the cluster holds each controller's events exactly once, chain intact.
    // (Replication is synchronous: once the last controller stopped, every node has it all.)
    for i in 0..3 {
        let at = store_at(&cluster.url(i, "wardgate")).await;
        for (c, want) in decided.iter().enumerate() {
            let node = format!("galera-{}", c + 1);
            let (events, decisions) = fleet::verify_chain(&at, &node).await;
            assert_eq!(
                decisions,
                *want,
                "database node {}: {node}'s decision events vs decisions answered",
                i + 1
            );
            eprintln!(
                "database node {}: {node} {events} events, {decisions} decisions, chain intact",
                i + 1
            );
        }
        at.close().await;
    }
    store.close().await;
    eprintln!("Galera test took {:?}", started.elapsed());
}
