//! `cargo xtask images`: the container images, built from static binaries and checked.
//!
//! 1. Compiles the four binaries statically (`dist::build_bins`: `+crt-static`, the `image`
//!    profile, `target/images`).
//! 2. Stages one build context per image under `target/images/context/<image>` (the binary,
//!    `docker/rootfs`, the host's CA bundle) and builds `docker/<file>.Dockerfile` with the
//!    builder the machine has: docker when its engine answers, else buildah, else podman
//!    (`--builder` or `ANIP_IMAGE_BUILDER` chooses). Nothing is pulled: every image is
//!    `FROM scratch`.
//! 3. Tags each `<image>:<workspace version>` and `<image>:<commit>` (12 hex digits, `-dirty`
//!    when the work tree has changes).
//! 4. Checks what was built. With docker, the image runs (`--version`, and its `healthcheck`
//!    against a loopback server). With buildah/podman, which cannot run containers on every
//!    machine, the image is exported to an OCI layout, read with `skopeo inspect` (labels, user,
//!    no environment beyond PATH), unpacked with `umoci unpack` (which checks every digest), and
//!    the unpacked binary runs under `chroot` as 65532 (`--version`, and `healthcheck` against a
//!    loopback server answering 200 and then 503).
//!
//! Buildah and podman use the `vfs` storage driver unless `ANIP_IMAGE_STORAGE_DRIVER` names
//! another (empty: the tool's own default), and chroot isolation, which work without cgroups.

use std::fs;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context};
use serde_json::Value;

use crate::dist::{build_bins, mib, stdout_of, workspace_version, SHIPPED_BINS};
use crate::local::run;

/// An image that was built and checked.
#[derive(Debug, Clone)]
pub struct BuiltImage {
    /// The image name, e.g. `anip-registry`.
    pub name: String,
    /// Its references, e.g. `anip-registry:0.1.0` and `anip-registry:0123456789ab`.
    pub tags: Vec<String>,
    /// With buildah/podman: the compressed layers plus config, as pushed to a registry. With
    /// docker: the engine's (uncompressed) image size.
    pub size_bytes: u64,
}

#[derive(clap::Args)]
pub struct ImagesArgs {
    /// The image builder; by default docker when its engine answers, else buildah, else podman.
    #[arg(long, env = "ANIP_IMAGE_BUILDER", value_enum)]
    builder: Option<Builder>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum Builder {
    Docker,
    Buildah,
    Podman,
}

/// One image: its name, the binary it runs, its Dockerfile, and its readiness path and port.
struct Spec {
    image: &'static str,
    binary: &'static str,
    dockerfile: &'static str,
    serves: bool,
}

const IMAGES: [Spec; 4] = [
    Spec {
        image: "anip-registry",
        binary: "anip-registry",
        dockerfile: "registry",
        serves: true,
    },
    Spec {
        image: "anip-studio",
        binary: "studio-api",
        dockerfile: "studio",
        serves: true,
    },
    Spec {
        image: "anip-runtime",
        binary: "anip-runtime",
        dockerfile: "runtime",
        serves: true,
    },
    Spec {
        image: "anip",
        binary: "anip",
        dockerfile: "anip",
        serves: false,
    },
];

/// The static-binary target: glibc, because the musl target is not always installable.
const TARGET: &str = "x86_64-unknown-linux-gnu";

/// The user every image runs as (docker/rootfs/etc/passwd: `nonroot`).
const USER: &str = "65532:65532";

pub fn run_cli(args: ImagesArgs) -> anyhow::Result<()> {
    let root = crate::local::workspace_root();
    let built = match args.builder {
        Some(builder) => build_with(&root, builder)?,
        None => build_all(&root)?,
    };
    println!();
    println!("{:<16} {:>10}  tags", "image", "size");
    for image in &built {
        println!(
            "{:<16} {:>6.1} MiB  {}",
            image.name,
            mib(image.size_bytes),
            image.tags.join(" ")
        );
    }
    Ok(())
}

/// Builds, tags and checks every image with the builder the machine has.
pub fn build_all(root: &Path) -> anyhow::Result<Vec<BuiltImage>> {
    let builder = match std::env::var("ANIP_IMAGE_BUILDER") {
        Ok(name) if !name.is_empty() => <Builder as clap::ValueEnum>::from_str(&name, true)
            .map_err(|e| {
                anyhow::anyhow!("ANIP_IMAGE_BUILDER={name:?}: {e} (docker, buildah or podman)")
            })?,
        _ => detect_builder()?,
    };
    build_with(root, builder)
}

fn build_with(root: &Path, builder: Builder) -> anyhow::Result<Vec<BuiltImage>> {
    let _lock = crate::dist::exclusive(root, "images")?;
    let version = workspace_version(root)?;
    let revision = stdout_of(
        Command::new("git")
            .current_dir(root)
            .args(["rev-parse", "HEAD"]),
    )?;
    let dirty = !stdout_of(
        Command::new("git")
            .current_dir(root)
            .args(["status", "--porcelain"]),
    )?
    .is_empty();
    let commit_tag = format!(
        "{}{}",
        revision.get(..12).unwrap_or(&revision),
        if dirty { "-dirty" } else { "" }
    );
    let source = std::env::var("ANIP_IMAGE_SOURCE")
        .ok()
        .filter(|s| !s.is_empty())
        .or_else(|| {
            stdout_of(
                Command::new("git")
                    .current_dir(root)
                    .args(["remote", "get-url", "origin"]),
            )
            .ok()
        })
        .unwrap_or_else(|| "unknown".to_owned());
    let ca_bundle = Path::new("/etc/ssl/certs/ca-certificates.crt");
    ensure!(
        ca_bundle.is_file(),
        "{} is missing: install the CA bundle (Debian: apt-get install ca-certificates)",
        ca_bundle.display()
    );
    eprintln!("images: builder {builder:?}, version {version}, commit {commit_tag}");

    // Every shipped binary in one build, as `cargo xtask dist` builds them: the archive and the
    // `anip` image hold the same binary, and whichever runs second finds it built.
    let started = Instant::now();
    let binaries = build_bins(root, TARGET, &SHIPPED_BINS)?;
    eprintln!(
        "images: static binaries built in {:.0} s",
        started.elapsed().as_secs_f64()
    );

    let work = crate::dist::build_dir(root);
    let mut built = Vec::new();
    for (spec, binary) in IMAGES.iter().zip(&binaries) {
        let started = Instant::now();
        let context = work.join("context").join(spec.image);
        stage(root, &context, spec, binary, ca_bundle)?;
        let tags = vec![
            format!("{}:{version}", spec.image),
            format!("{}:{commit_tag}", spec.image),
        ];
        let mut cmd = builder.command();
        match builder {
            Builder::Docker => {
                cmd.args(["build", "--pull=false"]);
            }
            Builder::Buildah => {
                cmd.args([
                    "bud",
                    "--isolation",
                    "chroot",
                    "--pull=never",
                    "--format",
                    "docker",
                ]);
            }
            Builder::Podman => {
                cmd.args([
                    "build",
                    "--isolation",
                    "chroot",
                    "--pull=never",
                    "--format",
                    "docker",
                ]);
            }
        }
        for (arg, value) in [
            ("VERSION", version.as_str()),
            ("REVISION", revision.as_str()),
            ("SOURCE", source.as_str()),
        ] {
            cmd.arg("--build-arg").arg(format!("{arg}={value}"));
        }
        for tag in &tags {
            cmd.args(["--tag", tag]);
        }
        cmd.arg("--file")
            .arg(root.join(format!("docker/{}.Dockerfile", spec.dockerfile)))
            .arg(&context);
        run(cmd.stdout(Stdio::null()))?;

        let size_bytes = match builder {
            Builder::Docker => check_with_docker(&tags[0], spec)?,
            Builder::Buildah | Builder::Podman => {
                check_offline(builder, &work, &tags[0], spec, &version, &revision)?
            }
        };
        eprintln!(
            "images: {} built and checked in {:.0} s",
            tags[0],
            started.elapsed().as_secs_f64()
        );
        built.push(BuiltImage {
            name: spec.image.to_owned(),
            tags,
            size_bytes,
        });
    }
    Ok(built)
}

impl Builder {
    /// The builder's command with its global options.
    fn command(self) -> Command {
        let mut cmd = Command::new(match self {
            Builder::Docker => "docker",
            Builder::Buildah => "buildah",
            Builder::Podman => "podman",
        });
        if self != Builder::Docker {
            let driver =
                std::env::var("ANIP_IMAGE_STORAGE_DRIVER").unwrap_or_else(|_| "vfs".to_owned());
            if !driver.is_empty() {
                cmd.arg("--storage-driver").arg(driver);
            }
        }
        cmd
    }
}

/// docker when its engine answers (`docker info`), else buildah, else podman.
fn detect_builder() -> anyhow::Result<Builder> {
    let works = |program: &str, args: &[&str]| {
        Command::new(program)
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if works("docker", &["info"]) {
        Ok(Builder::Docker)
    } else if works("buildah", &["--version"]) {
        Ok(Builder::Buildah)
    } else if works("podman", &["--version"]) {
        Ok(Builder::Podman)
    } else {
        bail!(
            "no image builder: docker has no engine and neither buildah nor podman is installed \
             (Debian: apt-get install buildah skopeo umoci)"
        )
    }
}

/// The build context: exactly what the Dockerfile copies.
fn stage(
    root: &Path,
    context: &Path,
    spec: &Spec,
    binary: &Path,
    ca_bundle: &Path,
) -> anyhow::Result<()> {
    if context.exists() {
        fs::remove_dir_all(context).with_context(|| format!("removing {}", context.display()))?;
    }
    let rootfs = context.join("rootfs");
    copy_tree(&root.join("docker/rootfs"), &rootfs)?;
    let certs = rootfs.join("etc/ssl/certs");
    fs::create_dir_all(&certs)?;
    fs::copy(ca_bundle, certs.join("ca-certificates.crt"))
        .with_context(|| format!("copying {}", ca_bundle.display()))?;
    let staged = context.join(spec.binary);
    fs::copy(binary, &staged).with_context(|| format!("copying {}", binary.display()))?;
    set_mode(&staged, 0o755)?;
    Ok(())
}

/// Copies a directory tree of plain files (files 0644, folders 0755).
fn copy_tree(from: &Path, to: &Path) -> anyhow::Result<()> {
    fs::create_dir_all(to).with_context(|| format!("creating {}", to.display()))?;
    set_mode(to, 0o755)?;
    for entry in fs::read_dir(from).with_context(|| format!("reading {}", from.display()))? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_tree(&entry.path(), &target)?;
        } else {
            fs::copy(entry.path(), &target)
                .with_context(|| format!("copying {}", entry.path().display()))?;
            set_mode(&target, 0o644)?;
        }
    }
    Ok(())
}

fn set_mode(path: &Path, mode: u32) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .with_context(|| format!("chmod {}", path.display()))
}

/// With a docker engine: the image runs, and its health check tells 200 from 503. Returns the
/// engine's image size.
fn check_with_docker(image: &str, spec: &Spec) -> anyhow::Result<u64> {
    let config = stdout_of(Command::new("docker").args([
        "image",
        "inspect",
        "--format",
        "{{json .Config}}",
        image,
    ]))?;
    let config: Value = serde_json::from_str(&config).context("docker image inspect")?;
    check_config(image, spec, &config, true)?;
    let version = stdout_of(Command::new("docker").args([
        "run",
        "--rm",
        "--network",
        "host",
        image,
        "--version",
    ]))?;
    ensure!(
        version.starts_with(spec.binary),
        "{image}: --version printed {version:?}"
    );
    if spec.serves {
        check_healthcheck(image, |url| {
            let mut cmd = Command::new("docker");
            cmd.args([
                "run",
                "--rm",
                "--network",
                "host",
                image,
                "healthcheck",
                url,
            ]);
            cmd
        })?;
    }
    let size = stdout_of(Command::new("docker").args([
        "image",
        "inspect",
        "--format",
        "{{.Size}}",
        image,
    ]))?;
    size.parse()
        .with_context(|| format!("docker image inspect printed size {size:?}"))
}

/// Without an engine: export to an OCI layout, inspect it with skopeo, unpack it with umoci,
/// run the unpacked binary under chroot. Returns the compressed size (layers and config).
fn check_offline(
    builder: Builder,
    work: &Path,
    image: &str,
    spec: &Spec,
    version: &str,
    revision: &str,
) -> anyhow::Result<u64> {
    // The Docker-format config, where HEALTHCHECK lives (an OCI config has no field for it).
    let docker_config = match builder {
        Builder::Podman => {
            let inspect = stdout_of(builder.command().args(["image", "inspect", image]))?;
            let inspect: Value = serde_json::from_str(&inspect).context("podman image inspect")?;
            let mut config = inspect
                .pointer("/0/Config")
                .cloned()
                .with_context(|| format!("{image}: podman shows no config"))?;
            // Podman reports the health check beside the config rather than in it.
            if let (Some(fields), Some(health)) =
                (config.as_object_mut(), inspect.pointer("/0/Healthcheck"))
            {
                fields.insert("Healthcheck".to_owned(), health.clone());
            }
            config
        }
        _ => {
            let inspect = stdout_of(
                builder
                    .command()
                    .args(["inspect", "--type", "image", image]),
            )?;
            let inspect: Value = serde_json::from_str(&inspect).context("buildah inspect")?;
            inspect
                .pointer("/Docker/config")
                .cloned()
                .with_context(|| format!("{image}: buildah shows no Docker-format config"))?
        }
    };
    check_config(image, spec, &docker_config, true)?;

    // Export and read back with tools other than the builder.
    let layout = work.join("oci").join(spec.image);
    if layout.exists() {
        fs::remove_dir_all(&layout)?;
    }
    fs::create_dir_all(&layout)?;
    let reference = format!("{}:{version}", layout.display());
    let mut push = builder.command();
    push.args(["push", "--quiet"])
        .arg(image)
        .arg(format!("oci:{reference}"));
    run(push.stdout(Stdio::null()))?;

    let inspected =
        stdout_of(Command::new("skopeo").args(["inspect", &format!("oci:{reference}")]))?;
    let inspected: Value = serde_json::from_str(&inspected).context("skopeo inspect")?;
    let label = |name: &str| {
        inspected
            .pointer(&format!("/Labels/org.opencontainers.image.{name}"))
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned()
    };
    ensure!(
        label("version") == version && label("revision") == revision,
        "{image}: OCI labels version {:?} revision {:?}",
        label("version"),
        label("revision")
    );
    let config = stdout_of(Command::new("skopeo").args([
        "inspect",
        "--config",
        &format!("oci:{reference}"),
    ]))?;
    let config: Value = serde_json::from_str(&config).context("skopeo inspect --config")?;
    let config = config
        .get("config")
        .with_context(|| format!("{image}: OCI config without config"))?;
    check_config(image, spec, config, false)?;
    let manifest =
        stdout_of(Command::new("skopeo").args(["inspect", "--raw", &format!("oci:{reference}")]))?;
    let manifest: Value = serde_json::from_str(&manifest).context("skopeo inspect --raw")?;
    let size = manifest
        .get("layers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .chain(manifest.get("config"))
        .filter_map(|d| d.get("size").and_then(Value::as_u64))
        .sum();

    // umoci verifies every blob's digest and every layer's diff_id while unpacking.
    let bundle = work.join("unpacked").join(spec.image);
    if bundle.exists() {
        fs::remove_dir_all(&bundle)?;
    }
    fs::create_dir_all(bundle.parent().unwrap_or(work))?;
    let mut unpack = Command::new("umoci");
    unpack.arg("unpack");
    if !is_root()? {
        unpack.arg("--rootless");
    }
    unpack.arg("--image").arg(&reference).arg(&bundle);
    run(unpack.stdout(Stdio::null()))?;
    let rootfs = bundle.join("rootfs");
    let mut files = Vec::new();
    list_files(&rootfs, &rootfs, &mut files)?;
    files.sort();
    let expected = [
        "etc/group".to_owned(),
        "etc/nsswitch.conf".to_owned(),
        "etc/passwd".to_owned(),
        "etc/ssl/certs/ca-certificates.crt".to_owned(),
        format!("usr/local/bin/{}", spec.binary),
    ];
    ensure!(
        files == expected,
        "{image}: the image holds {files:?}, expected exactly {expected:?}"
    );

    let in_rootfs = |args: &[&str]| {
        let mut cmd = if is_root().unwrap_or(false) {
            let mut cmd = Command::new("chroot");
            cmd.arg(format!("--userspec={USER}")).arg(&rootfs);
            cmd
        } else {
            let mut cmd = Command::new("unshare");
            cmd.arg("--map-root-user")
                .arg(format!("--root={}", rootfs.display()));
            cmd
        };
        // Nothing of ours leaks in: the binary sees only a PATH (which also finds chroot).
        cmd.arg(format!("/usr/local/bin/{}", spec.binary))
            .args(args)
            .env_clear()
            .env(
                "PATH",
                "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            );
        cmd
    };
    let printed = stdout_of(&mut in_rootfs(&["--version"]))?;
    ensure!(
        printed.starts_with(spec.binary),
        "{image}: the unpacked binary printed {printed:?} for --version"
    );
    if spec.serves {
        check_healthcheck(image, |url| in_rootfs(&["healthcheck", url]))?;
    }
    Ok(size)
}

/// What every image's config must say: the non-root user, our entrypoint, no environment but
/// PATH (no setting or secret baked in), and, for servers in the Docker format, a HEALTHCHECK
/// that calls the binary's own `healthcheck` on readiness.
fn check_config(image: &str, spec: &Spec, config: &Value, docker: bool) -> anyhow::Result<()> {
    let field = |name: &str| config.get(name).unwrap_or(&Value::Null);
    ensure!(
        field("User").as_str() == Some(USER),
        "{image}: user {:?}, expected {USER}",
        field("User")
    );
    let entrypoint = format!("/usr/local/bin/{}", spec.binary);
    ensure!(
        field("Entrypoint") == &serde_json::json!([entrypoint]),
        "{image}: entrypoint {:?}",
        field("Entrypoint")
    );
    for var in field("Env").as_array().into_iter().flatten() {
        let var = var.as_str().unwrap_or("");
        ensure!(
            var.starts_with("PATH="),
            "{image}: environment {:?} baked in",
            var.split('=').next().unwrap_or("")
        );
    }
    if docker && spec.serves {
        let test = field("Healthcheck")
            .get("Test")
            .and_then(Value::as_array)
            .with_context(|| format!("{image}: no HEALTHCHECK (build with --format docker)"))?;
        let test: Vec<&str> = test.iter().filter_map(Value::as_str).collect();
        ensure!(
            test.len() == 4
                && test[0] == "CMD"
                && test[1] == entrypoint
                && test[2] == "healthcheck"
                && test[3].contains("readyz"),
            "{image}: HEALTHCHECK {test:?} does not check readiness with the binary"
        );
    }
    Ok(())
}

/// Runs the image's `healthcheck` against a loopback server: it must exit 0 when the server
/// answers 200 and 1 when it answers 503.
fn check_healthcheck(image: &str, command: impl Fn(&str) -> Command) -> anyhow::Result<()> {
    for (status, expected) in [(200, 0), (503, 1)] {
        let (url, server) = serve_once(status)?;
        let output = command(&url)
            .output()
            .with_context(|| format!("{image}: running healthcheck"))?;
        let answered = server
            .join()
            .map_err(|_| anyhow::anyhow!("the loopback server panicked"))??;
        ensure!(
            answered,
            "{image}: healthcheck {url} never reached the loopback server ({}; stderr: {})",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
        ensure!(
            output.status.code() == Some(expected),
            "{image}: healthcheck against a {status} exited with {} (expected {expected}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(())
}

/// A loopback HTTP server answering one request for a path of its own with `status`; the thread
/// returns whether that request came within 30 s. Other connections (anything on the machine
/// may dial a recycled port) get a 404 and do not count.
fn serve_once(
    status: u16,
) -> anyhow::Result<(String, std::thread::JoinHandle<anyhow::Result<bool>>)> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    listener.set_nonblocking(true)?;
    let nonce = format!(
        "{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default()
    );
    let path = format!("/readyz/{nonce}");
    let url = format!("http://{}{path}", listener.local_addr()?);
    let handle = std::thread::spawn(move || -> anyhow::Result<bool> {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            match listener.accept() {
                Ok((stream, _)) => {
                    if answer(stream, &path, status).unwrap_or(false) {
                        return Ok(true);
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(e) => return Err(e.into()),
            }
        }
        Ok(false)
    });
    Ok((url, handle))
}

/// Reads one request head; answers `status` when it asks for `path` (returning true), else 404.
fn answer(mut stream: std::net::TcpStream, path: &str, status: u16) -> std::io::Result<bool> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut request = Vec::new();
    let mut buf = [0u8; 1024];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") && request.len() < 16 * 1024 {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            break;
        }
        request.extend_from_slice(&buf[..n]);
    }
    let ours = request.starts_with(format!("GET {path} ").as_bytes());
    let (status, reason) = match (ours, status) {
        (false, _) => (404, "Not Found"),
        (true, 200) => (200, "OK"),
        (true, status) => (status, "Unavailable"),
    };
    // One write, and its failure ignored: the healthcheck reads the 12 bytes of the status line
    // and hangs up, so a response written in pieces (as `write!` does) could fail half way
    // after the request had already been answered.
    let response =
        format!("HTTP/1.1 {status} {reason}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    let _ = stream.write_all(response.as_bytes());
    Ok(ours)
}

/// Every regular file under `dir`, relative to `base`.
fn list_files(base: &Path, dir: &Path, out: &mut Vec<String>) -> anyhow::Result<()> {
    for entry in fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let entry = entry?;
        let path = entry.path();
        if entry.file_type()?.is_dir() {
            list_files(base, &path, out)?;
        } else {
            let relative: PathBuf = path.strip_prefix(base)?.to_path_buf();
            out.push(relative.to_string_lossy().into_owned());
        }
    }
    Ok(())
}

fn is_root() -> anyhow::Result<bool> {
    use std::os::unix::fs::MetadataExt;
    Ok(fs::metadata("/proc/self")
        .context("reading /proc/self")?
        .uid()
        == 0)
}
