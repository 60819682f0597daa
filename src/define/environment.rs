//! Variants as environments: a trial's command run inside a fresh container (docker,
//! podman, apptainer) or a chroot, natively or in a chroot optionally in new Linux
//! namespaces (`unshare`). Pure: turns the command a trial would run natively into the
//! command line that runs it in the environment; the runner checks the runtime and image
//! before any trial and records their versions.

crate::reason_error!(
    /// Why a variant's environment cannot be composed (an unknown preset, a runtime that
    /// cannot do what the variant asks).
    EnvironmentError
);

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// A Linux namespace a trial can be given of its own (util-linux `unshare`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Namespace {
    /// Its own network stack: only a loopback interface (brought up), no other traffic.
    Net,
    /// Its own process tree: the trial's command is PID 1 and sees only its descendants
    /// in a /proc of its own; when it ends, the kernel kills whatever it left behind.
    Pid,
    /// Its own System V IPC and POSIX message queues.
    Ipc,
    /// Its own host name.
    Uts,
    /// Its own mount table (mounts made by the trial do not leak out).
    Mount,
    /// A user namespace mapping the caller to root in it: lets an unprivileged user
    /// create the others.
    User,
}

impl Namespace {
    pub fn name(self) -> &'static str {
        match self {
            Namespace::Net => "net",
            Namespace::Pid => "pid",
            Namespace::Ipc => "ipc",
            Namespace::Uts => "uts",
            Namespace::Mount => "mount",
            Namespace::User => "user",
        }
    }
}

/// The `unshare` words that put a command in `namespaces` (empty: none). The new PID
/// namespace gets its own /proc, mounted over the chroot's `/proc` when there is a
/// `chroot` root; `--kill-child` ends the trial's tree if unshare itself is killed (a
/// timeout). Without `net`, the words are only the `unshare` call; with it, rigor (`rigor`,
/// this binary's path) brings the loopback interface up first (a new network namespace
/// starts with it down; GPU nodes often lack iproute2) and execs the command, so
/// `localhost` servers still work.
pub fn unshare_words(namespaces: &[Namespace], chroot: Option<&Path>, rigor: &Path) -> Vec<String> {
    if namespaces.is_empty() {
        return Vec::new();
    }
    let mut ns = namespaces.to_vec();
    ns.sort();
    ns.dedup();
    let mut w = vec![
        "unshare".to_string(),
        "--fork".into(),
        "--kill-child".into(),
    ];
    for n in &ns {
        match n {
            Namespace::Net => w.push("--net".into()),
            Namespace::Pid => {
                w.push("--pid".into());
                w.push(match chroot {
                    Some(root) => format!("--mount-proc={}", root.join("proc").display()),
                    None => "--mount-proc".into(),
                });
            }
            Namespace::Ipc => w.push("--ipc".into()),
            Namespace::Uts => w.push("--uts".into()),
            Namespace::Mount => w.push("--mount".into()),
            Namespace::User => {
                w.push("--user".into());
                w.push("--map-root-user".into());
            }
        }
    }
    if ns.contains(&Namespace::Net) {
        w.extend([
            rigor.display().to_string(),
            "__loopback-up".into(),
            "--".into(),
        ]);
    }
    w
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Runtime {
    Docker,
    Podman,
    Apptainer,
}

/// How a runtime's CLI spells what rigor asks of it.
pub struct Flags {
    /// Words that start a container: `run --rm`, `exec`.
    pub start: &'static [&'static str],
    /// Whether containers are named (and so removable after a failed trial).
    pub named: bool,
    pub mount: &'static str,
    pub env: &'static str,
    pub workdir: &'static str,
}

impl Runtime {
    pub fn flags(self) -> Flags {
        match self {
            Runtime::Docker | Runtime::Podman => Flags {
                start: &["run", "--rm"],
                named: true,
                mount: "-v",
                env: "-e",
                workdir: "-w",
            },
            Runtime::Apptainer => Flags {
                start: &["exec"],
                named: false,
                mount: "--bind",
                env: "--env",
                workdir: "--pwd",
            },
        }
    }

    /// The program and its global flags (`podman --runtime runc`).
    fn command(self, c: &Container) -> Vec<String> {
        let mut argv = vec![self.program().to_string()];
        argv.extend(c.runtime_args.iter().cloned());
        argv
    }

    pub fn program(self) -> &'static str {
        match self {
            Runtime::Docker => "docker",
            Runtime::Podman => "podman",
            Runtime::Apptainer => "apptainer",
        }
    }
}

/// `container = { runtime, image, preset, extra_args, runtime_args, mounts, workdir }`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Container {
    pub runtime: Runtime,
    pub image: String,
    /// Named flag sets ([`PRESETS`]), applied in order before `extra_args`.
    #[serde(default, deserialize_with = "one_or_many")]
    pub preset: Vec<String>,
    /// Flags after `run` / `exec`.
    #[serde(default)]
    pub extra_args: Vec<String>,
    /// Flags before `run` / `exec` (e.g. podman's `--runtime runc`).
    #[serde(default)]
    pub runtime_args: Vec<String>,
    /// `host:container[:ro]` bind mounts.
    #[serde(default)]
    pub mounts: Vec<String>,
    /// Working directory inside the container (default: the image's).
    pub workdir: Option<String>,
}

fn one_or_many<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match OneOrMany::deserialize(d)? {
        OneOrMany::One(s) => vec![s],
        OneOrMany::Many(v) => v,
    })
}

/// `chroot = "/path"` or `chroot = { root = "/path", workdir = "/work" }`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Chroot {
    pub root: PathBuf,
    /// Directory inside the root to run in (default `/`).
    pub workdir: Option<String>,
}

impl Chroot {
    /// The root as trials use and record it: relative to the experiment file's directory
    /// `base`, and absolute where it exists.
    pub fn root_in(&self, base: &Path) -> PathBuf {
        let root = base.join(&self.root);
        root.canonicalize().unwrap_or(root)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Environment {
    Container(Container),
    Chroot(Chroot),
}

/// Named flag sets for docker and podman (apptainer's equivalents where one exists). The
/// `nvidia` set is NVIDIA's container playbook baseline; the others are the seed study's
/// optimisation modes.
/// (name, docker/podman flags, apptainer flags if it has an equivalent).
pub type Preset = (
    &'static str,
    &'static [&'static str],
    Option<&'static [&'static str]>,
);

pub const PRESETS: &[Preset] = &[
    (
        "nvidia",
        &[
            "--gpus",
            "all",
            "--ipc=host",
            "--ulimit",
            "memlock=-1",
            "--ulimit",
            "stack=67108864",
        ],
        Some(&["--nv"]),
    ),
    ("shm-8g", &["--shm-size=8g"], None),
    ("shm-32g", &["--shm-size=32g"], None),
    ("shm-60g", &["--shm-size=60g"], None),
    ("host-network", &["--network=host"], Some(&[])),
    ("host-ipc", &["--ipc=host"], Some(&[])),
    ("privileged", &["--privileged"], None),
];

/// The flags of a preset for a runtime, or why it has none.
pub fn preset_args(runtime: Runtime, name: &str) -> Result<Vec<String>, EnvironmentError> {
    let Some((_, oci, apptainer)) = PRESETS.iter().find(|(n, _, _)| *n == name) else {
        let names: Vec<&str> = PRESETS.iter().map(|p| p.0).collect();
        return Err(EnvironmentError(format!(
            "no preset `{name}`; presets: {} (or write the flags in extra_args)",
            names.join(", ")
        )));
    };
    match runtime {
        Runtime::Docker | Runtime::Podman => Ok(oci.iter().map(|s| s.to_string()).collect()),
        Runtime::Apptainer => apptainer
            .map(|a| a.iter().map(|s| s.to_string()).collect())
            .ok_or_else(|| {
                EnvironmentError(format!("preset `{name}` has no apptainer equivalent"))
            }),
    }
}

/// A container name unique on this machine: rigor's pid and a counter.
pub fn container_name() -> String {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("rigor-{}-{n}", std::process::id())
}

/// What a trial runs, as the environment sees it.
pub struct Inner<'a> {
    /// The wrapper (`taskset -c 0`) from the variant.
    pub prefix: &'a [String],
    /// The [`unshare_words`] of the variant's namespaces (empty: none); they go after the
    /// wrapper and before a chroot.
    pub unshare: &'a [String],
    /// The command itself.
    pub command: &'a [String],
    /// Variables rigor sets for the command.
    pub env: &'a [(String, String)],
    /// A unique container name: lets rigor remove a container its CLI left behind.
    pub name: &'a str,
    /// The one GPU a lane's container gets, by UUID: `--gpus all` becomes this device.
    pub gpu: Option<&'a str>,
}

/// The full argv that runs `inner` natively (`env` None) or in `env`, and the argv that
/// removes what a failed or killed trial may leave running (containers only).
pub fn wrap(
    env: Option<&Environment>,
    inner: &Inner<'_>,
) -> Result<(Vec<String>, Option<Vec<String>>), EnvironmentError> {
    let s = |x: &str| x.to_string();
    // The wrapper stays outside namespaces and chroots: CPU and memory policies are
    // inherited through both, and a root need not contain taskset or numactl.
    let outside = || -> Vec<String> { [inner.prefix, inner.unshare].concat() };
    match env {
        None => Ok(([outside(), inner.command.to_vec()].concat(), None)),
        Some(Environment::Chroot(c)) => {
            // The environment is inherited through chroot.
            let mut argv = outside();
            argv.extend([s("chroot"), c.root.display().to_string()]);
            if let Some(dir) = &c.workdir {
                argv.extend([
                    s("/bin/sh"),
                    s("-c"),
                    s("cd \"$1\" && shift && exec \"$@\""),
                    s("sh"),
                    dir.clone(),
                ]);
            }
            argv.extend(inner.command.iter().cloned());
            Ok((argv, None))
        }
        Some(Environment::Container(c)) => {
            let f = c.runtime.flags();
            let mut argv = c.runtime.command(c);
            argv.extend(f.start.iter().map(|w| s(w)));
            if f.named {
                argv.extend([s("--name"), s(inner.name)]);
            }
            for p in &c.preset {
                argv.extend(preset_args(c.runtime, p)?);
            }
            argv.extend(c.extra_args.iter().cloned());
            if let Some(uuid) = inner.gpu {
                only_gpu(&mut argv, uuid);
            }
            for m in &c.mounts {
                argv.extend([s(f.mount), m.clone()]);
            }
            for (k, v) in inner.env {
                argv.extend([s(f.env), format!("{k}={v}")]);
            }
            if let Some(w) = &c.workdir {
                argv.extend([s(f.workdir), w.clone()]);
            }
            argv.push(c.image.clone());
            // Inside: the container's process is not a child of the CLI, so a wrapper
            // must run in the container to apply to it.
            argv.extend(inner.prefix.iter().cloned());
            argv.extend(inner.command.iter().cloned());
            // apptainer exec runs as a child of the CLI: killing the group ends it; a
            // docker/podman container is removed by name.
            let cleanup = f.named.then(|| {
                let mut rm = c.runtime.command(c);
                rm.extend([s("rm"), s("-f"), s(inner.name)]);
                rm
            });
            Ok((argv, cleanup))
        }
    }
}

/// Narrows docker's and podman's `--gpus X` / `--gpus=X` to one device. The lane's
/// `CUDA_VISIBLE_DEVICES` already hides the others from CUDA inside; this hides them from
/// the container (and from NVML in it) too.
fn only_gpu(argv: &mut [String], uuid: &str) {
    let device = format!("device={uuid}");
    let mut i = 0;
    while i < argv.len() {
        if argv[i] == "--gpus" && i + 1 < argv.len() {
            argv[i + 1] = device.clone();
            i += 2;
            continue;
        }
        if argv[i].starts_with("--gpus=") {
            argv[i] = format!("--gpus={device}");
        }
        i += 1;
    }
}

/// Commands that report the runtime's version and the image's identity, run once per run
/// before any trial (their failure is the "missing runtime or image" error).
pub fn probes(c: &Container) -> (Vec<String>, Vec<String>) {
    let mut version = c.runtime.command(c);
    version.push("--version".into());
    let mut image = c.runtime.command(c);
    match c.runtime {
        Runtime::Docker | Runtime::Podman => {
            image.extend(
                ["image", "inspect", "--format", "{{.Id}} {{.RepoDigests}}"].map(String::from),
            );
            image.push(c.image.clone());
        }
        Runtime::Apptainer => {
            image.extend(["inspect", "--json"].map(String::from));
            image.push(c.image.clone());
        }
    }
    (version, image)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn container(runtime: Runtime) -> Container {
        Container {
            runtime,
            image: "nvcr.io/nvidia/pytorch:25.01-py3".into(),
            preset: vec!["nvidia".into()],
            extra_args: vec!["--shm-size=32g".into()],
            runtime_args: vec![],
            mounts: vec!["/data:/data:ro".into()],
            workdir: Some("/work".into()),
        }
    }

    fn inner<'a>(
        prefix: &'a [String],
        command: &'a [String],
        env: &'a [(String, String)],
    ) -> Inner<'a> {
        Inner {
            prefix,
            unshare: &[],
            command,
            env,
            name: "rigor-exp-17",
            gpu: None,
        }
    }

    fn words(s: &str) -> Vec<String> {
        s.split(' ').map(String::from).collect()
    }

    #[test]
    fn docker_podman_and_apptainer_command_lines() {
        let prefix = words("taskset -c 0");
        let command = words("python bench.py --n 4");
        let env = vec![("OMP_NUM_THREADS".to_string(), "4".to_string())];
        let (argv, cleanup) = wrap(
            Some(&Environment::Container(container(Runtime::Docker))),
            &inner(&prefix, &command, &env),
        )
        .unwrap();
        assert_eq!(
            argv.join(" "),
            "docker run --rm --name rigor-exp-17 --gpus all --ipc=host --ulimit memlock=-1 --ulimit stack=67108864 --shm-size=32g -v /data:/data:ro -e OMP_NUM_THREADS=4 -w /work nvcr.io/nvidia/pytorch:25.01-py3 taskset -c 0 python bench.py --n 4"
        );
        assert_eq!(cleanup.unwrap().join(" "), "docker rm -f rigor-exp-17");

        let mut p = container(Runtime::Podman);
        p.runtime_args = words("--runtime runc");
        p.preset = vec!["shm-8g".into(), "host-network".into()];
        let (argv, cleanup) =
            wrap(Some(&Environment::Container(p)), &inner(&[], &command, &[])).unwrap();
        assert_eq!(
            argv.join(" "),
            "podman --runtime runc run --rm --name rigor-exp-17 --shm-size=8g --network=host --shm-size=32g -v /data:/data:ro -w /work nvcr.io/nvidia/pytorch:25.01-py3 python bench.py --n 4"
        );
        assert_eq!(
            cleanup.unwrap().join(" "),
            "podman --runtime runc rm -f rigor-exp-17"
        );

        let mut a = container(Runtime::Apptainer);
        a.image = "pytorch.sif".into();
        a.extra_args = vec!["--containall".into()];
        let (argv, cleanup) = wrap(
            Some(&Environment::Container(a)),
            &inner(&prefix, &command, &env),
        )
        .unwrap();
        assert_eq!(
            argv.join(" "),
            "apptainer exec --nv --containall --bind /data:/data:ro --env OMP_NUM_THREADS=4 --pwd /work pytorch.sif taskset -c 0 python bench.py --n 4"
        );
        assert!(cleanup.is_none());
    }

    #[test]
    fn unshare_words_bring_loopback_up_and_mount_the_roots_proc() {
        let rigor = Path::new("/opt/rigor");
        assert!(unshare_words(&[], None, rigor).is_empty());
        assert_eq!(
            unshare_words(
                &[Namespace::Pid, Namespace::Uts, Namespace::Pid],
                None,
                rigor
            )
            .join(" "),
            "unshare --fork --kill-child --pid --mount-proc --uts"
        );
        assert_eq!(
            unshare_words(&[Namespace::User, Namespace::Net], None, rigor).join(" "),
            "unshare --fork --kill-child --net --user --map-root-user /opt/rigor __loopback-up --"
        );
        assert_eq!(
            unshare_words(&[Namespace::Pid], Some(Path::new("/srv/root")), rigor).join(" "),
            "unshare --fork --kill-child --pid --mount-proc=/srv/root/proc"
        );
    }

    #[test]
    fn chroot_keeps_the_wrapper_outside() {
        let prefix = words("taskset -c 1");
        let command = words("/bin/echo hi");
        let plain = Environment::Chroot(Chroot {
            root: "/srv/rootfs".into(),
            workdir: None,
        });
        let (argv, cleanup) = wrap(Some(&plain), &inner(&prefix, &command, &[])).unwrap();
        assert_eq!(
            argv.join(" "),
            "taskset -c 1 chroot /srv/rootfs /bin/echo hi"
        );
        assert!(cleanup.is_none());
        let inside = Environment::Chroot(Chroot {
            root: "/srv/rootfs".into(),
            workdir: Some("/work".into()),
        });
        let (argv, _) = wrap(Some(&inside), &inner(&[], &command, &[])).unwrap();
        assert_eq!(
            argv,
            [
                "chroot",
                "/srv/rootfs",
                "/bin/sh",
                "-c",
                "cd \"$1\" && shift && exec \"$@\"",
                "sh",
                "/work",
                "/bin/echo",
                "hi"
            ]
        );
    }

    #[test]
    fn presets_are_checked_per_runtime() {
        assert!(
            preset_args(Runtime::Apptainer, "shm-8g")
                .unwrap_err()
                .to_string()
                .contains("no apptainer equivalent")
        );
        assert!(
            preset_args(Runtime::Docker, "shm-9g")
                .unwrap_err()
                .to_string()
                .contains("presets: nvidia")
        );
        assert_eq!(preset_args(Runtime::Apptainer, "nvidia").unwrap(), ["--nv"]);
    }
}
