//! `rocketry`: the NameServer, the Broker, both at once (`standalone`), the benchmark and
//! the admin commands, in one binary.

mod admin;
mod bench;
mod dashboard;
mod http;
mod security;

/// glibc malloc took about a fifth of the broker's CPU at full produce rate (perf: `_int_malloc`,
/// `malloc_consolidate` across worker threads); mimalloc is built for many small, short-lived,
/// cross-thread allocations.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use broker::config::parse_properties;
use broker::BrokerConfig;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "rocketry", version, about = "A RocketMQ-compatible NameServer and Broker in one binary")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a NameServer.
    Namesrv {
        /// namesrv.conf (Java properties: listenPort, kvConfigPath, ... and the connection limits).
        #[arg(short = 'c', long = "config")]
        config: Option<PathBuf>,
        /// Port to listen on; overrides listenPort (default 9876).
        #[arg(short, long)]
        port: Option<u16>,
        /// Where KV config is kept; overrides kvConfigPath.
        #[arg(long)]
        kv_config: Option<PathBuf>,
    },
    /// Run a Broker from a broker.conf (Java properties, Java key names).
    Broker {
        /// broker.conf
        #[arg(short = 'c', long = "config")]
        config: Option<PathBuf>,
        /// NameServer address(es), `host:port;host:port`; overrides namesrvAddr.
        #[arg(short = 'n', long = "namesrv")]
        namesrv: Option<String>,
    },
    /// Run a controller node (automatic failover): Raft among the nodes of
    /// `controllerDLegerPeers`, and the brokers' registrations and heartbeats.
    ///
    /// Example: rocketry controller -c controller.conf   (controllerDLegerSelfId=n0,
    /// controllerDLegerPeers=n0-127.0.0.1:9878;n1-127.0.0.1:9868;n2-127.0.0.1:9858,
    /// controllerStorePath=/var/lib/rocketry/controller)
    Controller {
        /// controller.conf (Java properties).
        #[arg(short = 'c', long = "config")]
        config: PathBuf,
    },
    /// Run a NameServer and a Broker in one process with a default config.
    Standalone {
        /// Data directory (storePathRootDir).
        #[arg(long, default_value = "./data")]
        data_dir: PathBuf,
        #[arg(long, default_value_t = 9876)]
        namesrv_port: u16,
        #[arg(long, default_value_t = 10911)]
        broker_port: u16,
        /// broker.conf with any broker keys to override.
        #[arg(short = 'c', long = "config")]
        config: Option<PathBuf>,
        /// The RocketMQ 5.x gRPC port; overrides grpcServerPort (default 8081; 0: any free port).
        #[arg(long)]
        grpc_port: Option<u16>,
        /// Also run a one-node controller on this port (automatic failover): this broker
        /// follows it (controller mode, brokerId 1 unless set), and brokers of other processes
        /// may join the group with `controllerAddr` pointing here.
        #[arg(long)]
        controller_port: Option<u16>,
    },
    /// Load generators.
    #[command(subcommand)]
    Bench(bench::BenchCommand),
    /// Operator commands, with mqadmin's names and flags.
    Admin(admin::AdminArgs),
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        // Colour only on a terminal: a log redirected to a file or a pipe stays plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

type Error = Box<dyn std::error::Error + Send + Sync>;

/// A status line of a server command on stdout. A stdout that went away (a supervisor that
/// read the first lines and closed the pipe) must not stop a running server, as `println!`
/// would: the line is dropped.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

async fn run(cli: Cli) -> Result<(), Error> {
    match cli.command {
        Command::Namesrv { config, port, kv_config } => {
            let mut cfg = namesrv_config(9876, None);
            if let Some(path) = config.as_deref() {
                let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
                for key in cfg.apply(&parse_properties(&text))? {
                    tracing::warn!(key = %key, file = %path.display(), "unknown namesrv config key ignored");
                }
            }
            if let Some(p) = port {
                cfg.listen_addr.set_port(p);
            }
            if kv_config.is_some() {
                cfg.kv_config_path = kv_config;
            }
            let signal = shutdown_signal()?;
            let ns = Arc::new(namesrv::start(cfg.clone()).await?);
            say!("rocketry namesrv listening on {}", ns.local_addr);
            let _exporter = match cfg.metrics_prom {
                true => {
                    let source: http::MetricsSource = {
                        let ns = ns.clone();
                        http::cached(Arc::new(move || ns.metrics_text()), std::time::Duration::from_secs(1))
                    };
                    let addr = http::addr(
                        &cfg.metrics_prom_exporter_host,
                        &cfg.listen_addr.ip().to_string(),
                        cfg.metrics_prom_exporter_port,
                        "metricsPromExporterHost",
                    )?;
                    let server = http::serve(addr, http::exporter(source))
                        .await
                        .map_err(|e| format!("cannot serve metrics on {addr} (metricsPromExporterPort): {e}"))?;
                    say!("rocketry namesrv: metrics (Prometheus) on http://{}/metrics", server.local_addr);
                    Some(server)
                }
                false => None,
            };
            signal.await;
            Ok(())
        }
        Command::Broker { config, namesrv } => {
            let mut cfg = load_broker_config(config.as_deref())?;
            if let Some(n) = namesrv {
                cfg.namesrv_addr = Some(n);
            }
            let signal = shutdown_signal()?;
            let handle = broker::start(cfg.clone()).await?;
            let grpc = serve_grpc(&handle).await?;
            say!(
                "rocketry broker {} listening on {} (advertised {}), data in {}",
                cfg.broker_name,
                handle.local_addr,
                cfg.broker_addr(),
                cfg.store_path_root_dir.display()
            );
            print_grpc("rocketry broker", grpc.as_ref());
            let broker = handle.broker.clone();
            let _http = serve_http("rocketry broker", &handle.broker, Arc::new(move || broker.metrics_text())).await?;
            signal.await;
            stop(grpc, handle).await;
            Ok(())
        }
        Command::Standalone { data_dir, namesrv_port, broker_port, config, grpc_port, controller_port } => {
            let mut cfg = BrokerConfig { store_path_root_dir: data_dir.clone(), listen_port: broker_port, ..BrokerConfig::default() };
            if let Some(path) = config.as_deref() {
                apply_file(&mut cfg, path)?;
            }
            if let Some(p) = grpc_port {
                cfg.grpc_server_port = p;
            }
            // The NameServer in the same process takes the broker's connection limits and TLS.
            let mut ns_cfg = namesrv_config(namesrv_port, Some(data_dir.join("namesrv").join("kvConfig.json")));
            ns_cfg.server = broker::server_config(&cfg);
            ns_cfg.tls = cfg.tls.clone();
            let signal = shutdown_signal()?;
            let ns = Arc::new(namesrv::start(ns_cfg).await?);
            cfg.namesrv_addr = Some(format!("127.0.0.1:{}", ns.local_addr.port()));
            let controller = match controller_port {
                Some(port) => {
                    let port = if port == 0 { std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port() } else { port };
                    let ccfg = controller::ControllerConfig {
                        self_id: 0,
                        peers: [(0, format!("127.0.0.1:{port}"))].into(),
                        store_dir: data_dir.join("controller"),
                        scan_interval: std::time::Duration::from_millis(1000),
                        elect_unclean: false,
                        raft_heartbeat: std::time::Duration::from_millis(100),
                    };
                    let handle = controller::start(ccfg).await?;
                    cfg.enable_controller_mode = true;
                    if cfg.controller_addr.is_empty() {
                        cfg.controller_addr = format!("127.0.0.1:{port}");
                    }
                    if cfg.broker_id == 0 {
                        cfg.broker_id = 1;
                    }
                    say!("rocketry standalone: controller listening on {}", handle.local_addr);
                    Some(handle)
                }
                None => None,
            };
            let handle = broker::start(cfg.clone()).await?;
            let grpc = serve_grpc(&handle).await?;
            say!("rocketry standalone: namesrv listening on {}", ns.local_addr);
            say!("rocketry standalone: broker {} listening on {} (advertised {})", cfg.broker_name, handle.local_addr, cfg.broker_addr());
            print_grpc("rocketry standalone", grpc.as_ref());
            say!("rocketry standalone: data in {}", data_dir.display());
            let (broker, names) = (handle.broker.clone(), ns.clone());
            let _http = serve_http("rocketry standalone", &handle.broker, Arc::new(move || standalone_metrics(&broker, &names))).await?;
            signal.await;
            stop(grpc, handle).await;
            if let Some(c) = controller {
                c.shutdown().await;
            }
            ns.stop();
            Ok(())
        }
        Command::Controller { config } => {
            let text = std::fs::read_to_string(&config).map_err(|e| format!("cannot read {}: {e}", config.display()))?;
            let (cfg, unknown) = controller::ControllerConfig::from_properties(&parse_properties(&text)).map_err(|e| format!("{}: {e}", config.display()))?;
            for key in unknown {
                tracing::warn!(key = %key, file = %config.display(), "unknown controller config key ignored");
            }
            let signal = shutdown_signal()?;
            let handle = controller::start(cfg.clone()).await?;
            say!("rocketry controller n{} listening on {} (peers {:?}), data in {}", cfg.self_id, handle.local_addr, cfg.peers, cfg.store_dir.display());
            signal.await;
            handle.shutdown().await;
            Ok(())
        }
        Command::Bench(cmd) => bench::run(cmd).await,
        Command::Admin(cmd) => admin::run(cmd).await,
    }
}

/// The broker's gRPC front end, unless `grpcServerEnable=false`. A port that cannot be bound
/// stops the broker: a client configured for it would otherwise find nothing there.
async fn serve_grpc(handle: &broker::BrokerHandle) -> Result<Option<grpc::GrpcServer>, Error> {
    if !handle.broker.config.grpc_server_enable {
        return Ok(None);
    }
    match grpc::start(handle.broker.clone()).await {
        Ok(server) => Ok(Some(server)),
        Err(e) => Err(format!("cannot serve gRPC on port {} (grpcServerPort): {e}", handle.broker.config.grpc_server_port).into()),
    }
}

/// The broker's HTTP ports: the Prometheus exporter when `metricsExporterType=PROM` (a port
/// that cannot be bound stops the start: metrics were asked for) and the dashboard unless
/// `dashboardEnable=false` (a port that cannot be bound is logged and the broker serves on:
/// the dashboard is on by default, and a second broker on one machine must still start).
async fn serve_http(who: &str, broker: &Arc<broker::Broker>, source: http::MetricsSource) -> Result<Vec<http::HttpServer>, Error> {
    let c = &broker.config;
    let source = http::cached(source, std::time::Duration::from_secs(1));
    let mut servers = Vec::new();
    if c.metrics_exporter_type == broker::config::MetricsExporter::Prom {
        let addr = http::addr(&c.metrics_prom_exporter_host, &c.broker_ip1, c.metrics_prom_exporter_port, "metricsPromExporterHost")?;
        let server =
            http::serve(addr, http::exporter(source.clone())).await.map_err(|e| format!("cannot serve metrics on {addr} (metricsPromExporterPort): {e}"))?;
        say!("{who}: metrics (Prometheus) on http://{}/metrics", server.local_addr);
        servers.push(server);
    }
    if c.dashboard_enable {
        let addr = http::addr(&c.dashboard_host, &c.broker_ip1, c.dashboard_port, "dashboardHost")?;
        let router = dashboard::router(dashboard::Dashboard::new(broker.clone(), source));
        match http::serve(addr, router).await {
            Ok(server) => {
                say!("{who}: dashboard on http://{}/", server.local_addr);
                servers.push(server);
            }
            Err(e) => {
                tracing::error!(%addr, error = %e, "cannot serve the dashboard (dashboardPort; dashboardEnable=false turns it off); serving on without it")
            }
        }
    }
    Ok(servers)
}

/// One process, two servers: the broker's families, the NameServer's, and one
/// `rocketmq_rpc_latency` family with the series of both.
fn standalone_metrics(broker: &broker::Broker, ns: &namesrv::NamesrvHandle) -> String {
    use remoting::metrics::{Exposition, RpcLatency};
    let mut out = Exposition::new(broker.metric_labels());
    broker.write_metrics(&mut out);
    out.set_common(ns.metric_labels());
    ns.write_metrics(&mut out);
    RpcLatency::family(&mut out);
    out.set_common(broker.metric_labels());
    broker.metrics.rpc.series(&mut out);
    out.set_common(ns.metric_labels());
    ns.rpc_latency().series(&mut out);
    out.set_common(Vec::new());
    remoting::metrics::process(&mut out);
    out.finish()
}

fn print_grpc(who: &str, grpc: Option<&grpc::GrpcServer>) {
    if let Some(g) = grpc {
        say!("{who}: gRPC (RocketMQ 5.x) listening on {}", g.local_addr);
    }
}

/// gRPC first (its calls use the broker), then the broker.
async fn stop(grpc: Option<grpc::GrpcServer>, handle: broker::BrokerHandle) {
    if let Some(g) = grpc {
        g.shutdown().await;
    }
    handle.shutdown().await;
}

fn namesrv_config(port: u16, kv_config_path: Option<PathBuf>) -> namesrv::NamesrvConfig {
    namesrv::NamesrvConfig { listen_addr: SocketAddr::from(([0, 0, 0, 0], port)), kv_config_path, ..Default::default() }
}

fn apply_file(cfg: &mut BrokerConfig, path: &std::path::Path) -> Result<(), Error> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    for key in cfg.apply(&parse_properties(&text))? {
        tracing::warn!(key = %key, file = %path.display(), "unknown broker config key ignored");
    }
    Ok(())
}

fn load_broker_config(path: Option<&std::path::Path>) -> Result<BrokerConfig, Error> {
    let mut cfg = BrokerConfig::default();
    if let Some(path) = path {
        apply_file(&mut cfg, path)?;
    }
    Ok(cfg)
}

/// SIGTERM or SIGINT, with the handlers installed now: a signal that arrives after this call,
/// even before the future is awaited, is not lost (a test may signal as soon as the
/// "listening" line is printed).
fn shutdown_signal() -> Result<impl std::future::Future<Output = ()>, Error> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).map_err(|e| format!("cannot install the SIGTERM handler: {e}"))?;
    let mut int = signal(SignalKind::interrupt()).map_err(|e| format!("cannot install the SIGINT handler: {e}"))?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        tracing::info!("shutting down");
    })
}
