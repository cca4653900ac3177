//! `scripts/install-schedule.sh`: a dry run prints the changes and makes none; `--apply`
//! makes them, and a second run changes nothing. The systemd units go under a temp `--prefix`
//! (and pass `systemd-analyze verify` where it is installed); the crontab is a fake
//! (`CRONTAB=`), so no test ever touches the real one or runs the real systemctl.

mod common;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const UNITS: [&str; 4] = [
    "logwarden-collect.service",
    "logwarden-collect.timer",
    "logwarden-report.service",
    "logwarden-report.timer",
];

fn script() -> PathBuf {
    common::root().join("scripts/install-schedule.sh")
}

/// A fake `crontab` (table in `tab`, every call's arguments appended to `tab.calls`) and a
/// fake `systemctl` (calls appended to `systemctl.calls`).
fn fakes(dir: &Path) {
    let crontab = dir.join("crontab");
    fs::write(
        &crontab,
        format!(
            "#!/bin/sh\nt='{}'\necho \"$*\" >> \"$t.calls\"\ncase \"$*\" in\n\
             *-l) [ -f \"$t\" ] || {{ echo \"no crontab for you\" >&2; exit 1; }}; cat \"$t\" ;;\n\
             *-) cat > \"$t\" ;;\n*) exit 9 ;;\nesac\n",
            dir.join("tab").display()
        ),
    )
    .unwrap();
    let systemctl = dir.join("systemctl");
    fs::write(
        &systemctl,
        format!(
            "#!/bin/sh\necho \"$*\" >> '{}'\n",
            dir.join("systemctl.calls").display()
        ),
    )
    .unwrap();
    for f in [crontab, systemctl] {
        Command::new("chmod").arg("+x").arg(f).status().unwrap();
    }
}

fn run(dir: &Path, args: &[&str]) -> Output {
    let out = Command::new("bash")
        .arg(script())
        .args(args)
        .env("CRONTAB", dir.join("crontab"))
        .env("SYSTEMCTL", dir.join("systemctl"))
        .env("HOME", dir.join("home"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Every file under `dir`, relative, sorted.
fn tree(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p.clone());
            }
            out.push(p.strip_prefix(dir).unwrap().to_path_buf());
        }
    }
    out.sort();
    out
}

#[test]
fn systemd_dry_run_prints_the_units_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    fakes(dir.path());
    let prefix = dir.path().join("root");
    fs::create_dir(&prefix).unwrap();
    let out = run(
        dir.path(),
        &[
            "--systemd",
            "--prefix",
            prefix.to_str().unwrap(),
            "--user",
            "reports",
        ],
    );
    let text = stdout(&out);
    for u in UNITS {
        let target = prefix.join("etc/systemd/system").join(u);
        assert!(
            text.contains(&format!("  write:     {} (new)\n", target.display())),
            "{text}"
        );
    }
    for line in [
        "      | OnCalendar=*-*-* 00:05:00\n",
        "      | OnCalendar=Mon *-*-* 08:00:00\n",
        "      | Persistent=true\n",
        "      | User=reports\n",
        "      | ProtectSystem=strict\n",
        "      | ReadWritePaths=/var/lib/logwarden/log\n",
        "      | NoNewPrivileges=yes\n",
        "      | LoadCredential=smtp-password:/etc/logwarden/smtp.pass\n",
        "dry run: nothing was changed",
    ] {
        assert!(text.contains(line), "missing {line:?} in\n{text}");
    }
    assert!(!text.contains("User=logwarden"), "{text}");
    assert!(
        tree(&prefix).is_empty(),
        "dry run wrote {:?}",
        tree(&prefix)
    );
    assert!(!dir.path().join("systemctl.calls").exists());
}

/// `--systemd --apply` into `prefix` with this binary and source log.
fn apply_args<'a>(prefix: &'a Path, bin: &'a str, source: &'a str) -> [&'a str; 8] {
    [
        "--systemd",
        "--apply",
        "--prefix",
        prefix.to_str().unwrap(),
        "--bin",
        bin,
        "--source",
        source,
    ]
}

#[test]
fn systemd_apply_into_prefix_is_idempotent_and_units_verify() {
    let dir = tempfile::tempdir().unwrap();
    fakes(dir.path());
    let shipped = common::root().join("scripts/systemd");

    // Defaults reproduce the shipped units byte for byte.
    let plain = dir.path().join("plain");
    run(
        dir.path(),
        &[
            "--systemd",
            "--apply",
            "--prefix",
            plain.to_str().unwrap(),
            "--bin",
            "/usr/local/bin/logwarden",
        ],
    );
    for u in UNITS {
        assert_eq!(
            fs::read_to_string(plain.join("etc/systemd/system").join(u)).unwrap(),
            fs::read_to_string(shipped.join(u)).unwrap(),
            "{u}"
        );
    }

    let prefix = dir.path().join("root");
    let bin = env!("CARGO_BIN_EXE_logwarden");
    let args = apply_args(&prefix, bin, "/srv/www/access.log");
    let first = stdout(&run(dir.path(), &args));
    let units = prefix.join("etc/systemd/system");
    let files: Vec<PathBuf> = UNITS.iter().map(PathBuf::from).collect();
    assert_eq!(
        tree(&prefix),
        [
            vec![
                PathBuf::from("etc"),
                PathBuf::from("etc/logwarden"),
                PathBuf::from("etc/logwarden/logwarden.toml"),
                PathBuf::from("etc/systemd"),
                PathBuf::from("etc/systemd/system")
            ],
            files
                .iter()
                .map(|f| Path::new("etc/systemd/system").join(f))
                .collect()
        ]
        .concat()
    );
    let collect = fs::read_to_string(units.join("logwarden-collect.service")).unwrap();
    assert!(collect.contains(&format!(
        "\nExecStart={bin} collect --config /etc/logwarden/logwarden.toml --analyze --quiet --source /srv/www/access.log --dest log"
    )));
    assert!(first.contains("(new)"));
    assert!(first.contains("systemctl: not run (--prefix given)"));
    // The config both units name exists, so the collect unit's command runs as it is.
    let conf = prefix.join("etc/logwarden/logwarden.toml");
    assert!(first.contains(&format!("config: {} (new, empty", conf.display())));
    let work = dir.path().join("work");
    fs::create_dir_all(&work).unwrap();
    fs::write(
        work.join("access.log"),
        "10.0.0.1 - - [19/Jun/2023:10:00:00 +0000] \"GET / HTTP/1.1\" 404 1\n",
    )
    .unwrap();
    let ran = Command::new(bin)
        .current_dir(&work)
        .args([
            "collect",
            "--config",
            conf.to_str().unwrap(),
            "--analyze",
            "--quiet",
        ])
        .args([
            "--source",
            "access.log",
            "--dest",
            "log",
            "--history",
            "log/monitoring.log",
        ])
        .output()
        .unwrap();
    assert_eq!(
        ran.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&ran.stderr)
    );
    fs::write(&conf, "[analyze]\nthreshold = 3\n").unwrap();
    let before: Vec<_> = UNITS
        .iter()
        .map(|u| fs::read(units.join(u)).unwrap())
        .collect();

    let second = stdout(&run(dir.path(), &args));
    for u in UNITS {
        assert!(
            second.contains(&format!("  unchanged: {}\n", units.join(u).display())),
            "{second}"
        );
    }
    assert!(!second.contains("write:"), "{second}");
    assert!(second.contains("(kept as it is)"), "{second}");
    assert_eq!(
        fs::read_to_string(&conf).unwrap(),
        "[analyze]\nthreshold = 3\n"
    );
    let after: Vec<_> = UNITS
        .iter()
        .map(|u| fs::read(units.join(u)).unwrap())
        .collect();
    assert_eq!(before, after);
    assert!(
        !dir.path().join("systemctl.calls").exists(),
        "systemctl must not run with --prefix"
    );

    let have_analyze = Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !have_analyze {
        eprintln!("SKIPPED systemd-analyze verify: systemd-analyze not installed");
        return;
    }
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .args(UNITS.iter().map(|u| units.join(u)))
        .output()
        .unwrap();
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "systemd-analyze verify: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn systemd_units_see_a_source_or_binary_under_home_read_only() {
    let dir = tempfile::tempdir().unwrap();
    fakes(dir.path());
    for (source, bin, protect) in [
        (
            "/var/log/apache2/access.log",
            "/usr/local/bin/logwarden",
            "yes",
        ),
        (
            "/home/web/logs/access.log",
            "/usr/local/bin/logwarden",
            "read-only",
        ),
        (
            "/var/log/apache2/access.log",
            "/root/.cargo/bin/logwarden",
            "read-only",
        ),
    ] {
        let prefix = dir
            .path()
            .join(format!("p-{protect}-{}", source.len() + bin.len()));
        run(dir.path(), &apply_args(&prefix, bin, source));
        for u in ["logwarden-collect.service", "logwarden-report.service"] {
            let unit = fs::read_to_string(prefix.join("etc/systemd/system").join(u)).unwrap();
            let lines: Vec<&str> = unit
                .lines()
                .filter(|l| l.starts_with("ProtectHome="))
                .collect();
            assert_eq!(
                lines,
                [format!("ProtectHome={protect}")],
                "{u} {source} {bin}"
            );
        }
    }
}

const EXISTING: &str = "MAILTO=ops@example.org\n# keep me\n0 3 * * * /usr/bin/true\n";

#[test]
fn cron_dry_run_prints_the_lines_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    fakes(dir.path());
    fs::write(dir.path().join("tab"), EXISTING).unwrap();
    let out = run(
        dir.path(),
        &[
            "--cron",
            "--home",
            "/home/user",
            "--bin",
            "/usr/local/bin/logwarden",
        ],
    );
    let text = stdout(&out);
    let example = fs::read_to_string(common::root().join("scripts/crontab.example")).unwrap();
    let lines: Vec<&str> = example
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .collect();
    assert_eq!(lines.len(), 2, "{example}");
    assert!(lines[0].starts_with("5 0 * * * "));
    assert!(lines[1].starts_with("0 8 * * 1 "));
    for l in &lines {
        assert!(
            text.contains(&format!("  add:       {l}\n")),
            "missing {l:?} in\n{text}"
        );
    }
    assert!(text.contains("dry run: nothing was changed"), "{text}");
    assert_eq!(
        fs::read_to_string(dir.path().join("tab")).unwrap(),
        EXISTING
    );
    assert_eq!(
        fs::read_to_string(dir.path().join("tab.calls")).unwrap(),
        "-l\n",
        "a dry run only lists the crontab"
    );
}

#[test]
fn cron_apply_adds_once_keeps_other_lines_and_replaces_in_place() {
    let dir = tempfile::tempdir().unwrap();
    fakes(dir.path());
    fs::write(dir.path().join("tab"), EXISTING).unwrap();
    let args = [
        "--cron",
        "--apply",
        "--home",
        "/srv/lw data",
        "--user",
        "www",
    ];
    let first = stdout(&run(dir.path(), &args));
    assert_eq!(first.matches("  add:       ").count(), 2, "{first}");
    let tab = fs::read_to_string(dir.path().join("tab")).unwrap();
    assert!(tab.starts_with(EXISTING), "{tab}");
    let added: Vec<&str> = tab[EXISTING.len()..].lines().collect();
    assert_eq!(added.len(), 2, "{tab}");
    assert!(added[0].starts_with("5 0 * * * cd '/srv/lw data' && mkdir -p log && "));
    assert!(added[0].contains(" collect --analyze --quiet --source /var/log/apache2/access.log --dest log --history log/monitoring.log >> log/cronjob_logs 2>&1 # logwarden-schedule:collect"));
    assert!(added[1].starts_with("0 8 * * 1 cd '/srv/lw data' && mkdir -p log && { "));
    // The Monday job collects first (the week may not be over in the log's time at 00:05).
    assert!(added[1].contains(" collect --analyze --quiet --source /var/log/apache2/access.log --dest log --history log/monitoring.log >> log/cronjob_logs 2>&1; "));
    assert!(added[1].ends_with(
        " report --week last --email --quiet >> log/cronjob_logs 2>&1; } # logwarden-schedule:report"
    ));

    // Twice: nothing to change, nothing written.
    let second = stdout(&run(dir.path(), &args));
    assert!(second.contains("crontab is up to date"), "{second}");
    assert_eq!(fs::read_to_string(dir.path().join("tab")).unwrap(), tab);

    // Another binary: the two lines are replaced where they are, not added again.
    let mut args3 = args.to_vec();
    args3.extend(["--bin", "/opt/logwarden/bin/logwarden"]);
    let third = stdout(&run(dir.path(), &args3));
    assert_eq!(third.matches("  replace:   ").count(), 2, "{third}");
    let tab3 = fs::read_to_string(dir.path().join("tab")).unwrap();
    assert!(tab3.starts_with(EXISTING));
    assert_eq!(tab3.lines().count(), EXISTING.lines().count() + 2, "{tab3}");
    // One in the daily line, two in the Monday one (collect, then report).
    assert_eq!(tab3.matches("/opt/logwarden/bin/logwarden ").count(), 3);
    let calls = fs::read_to_string(dir.path().join("tab.calls")).unwrap();
    assert_eq!(
        calls, "-u www -l\n-u www -\n-u www -l\n-u www -l\n-u www -\n",
        "the user's crontab only, written only when something changed"
    );
}

#[test]
fn bad_arguments_are_refused_before_anything_changes() {
    let dir = tempfile::tempdir().unwrap();
    fakes(dir.path());
    for args in [
        vec!["--cron", "--apply", "--prefix", "/tmp/x"],
        vec!["--cron", "--apply", "--home", "/h/50%"],
        vec!["--systemd", "--apply", "--prefix", "/tmp/x", "--home", "/h"],
        vec![
            "--systemd",
            "--apply",
            "--prefix",
            "/tmp/x",
            "--bin",
            "rel/bin",
        ],
        vec![
            "--systemd",
            "--apply",
            "--prefix",
            "/tmp/x",
            "--user",
            "a b",
        ],
        vec!["--bogus"],
    ] {
        let out = Command::new("bash")
            .arg(script())
            .args(&args)
            .env("CRONTAB", dir.path().join("crontab"))
            .env("SYSTEMCTL", dir.path().join("systemctl"))
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(!out.stderr.is_empty(), "{args:?}");
    }
    assert!(!dir.path().join("tab.calls").exists());
    assert!(!dir.path().join("systemctl.calls").exists());
}

#[test]
fn config_example_is_a_valid_config_with_every_key() {
    let example = common::root().join("logwarden.toml.example");
    let text = fs::read_to_string(&example).unwrap();
    // As logwarden reads it: every table whole.
    let load = |path: &Path| {
        let file = logwarden::config::load_file(Some(path)).unwrap();
        assert_eq!((&file.analyze.invalid, &file.mail_invalid), (&None, &None));
        file
    };
    let file = load(&example);
    let a = &file.analyze;
    assert!(
        a.codes.is_some()
            && a.threshold.is_some()
            && a.bad_request_threshold.is_some()
            && a.utc.is_some()
            && a.format.is_some()
            && a.max_line_bytes.is_some()
            && a.threads.is_some()
            && a.paths.is_some()
    );
    // The keys with a default show it (a copied example must not change what logwarden
    // does: no clear-text SMTP, no login).
    let smtp = file.smtp.as_ref().unwrap();
    assert_eq!(
        (smtp.host.as_deref(), smtp.port, smtp.security.as_deref()),
        (Some("smtp.example.org"), Some(587), Some("starttls"))
    );
    assert_eq!(
        (&smtp.username, &smtp.password_env, &smtp.password_file),
        (&None, &None, &None)
    );
    let mail = logwarden::sink::email::resolve(file.email.as_ref(), "2023-W25").unwrap();
    assert_eq!(mail.subject, "Weekly access-log report 2023-W25");
    assert_eq!(
        file.email.as_ref().unwrap().max_message_bytes,
        Some(logwarden::sink::email::DEFAULT_MAX_MESSAGE_BYTES)
    );
    // The commented-out login lines are valid too.
    let mut alt = text.clone();
    for key in ["username", "password_env", "password_file"] {
        let commented = format!("\n# {key} = ");
        assert!(alt.contains(&commented), "{key}");
        alt = alt.replace(&commented, &format!("\n{key} = "));
    }
    let dir = tempfile::tempdir().unwrap();
    let alt_path = dir.path().join("logwarden.toml");
    fs::write(&alt_path, alt).unwrap();
    let smtp = load(&alt_path).smtp.unwrap();
    assert!(smtp.username.is_some() && smtp.password_env.is_some() && smtp.password_file.is_some());
}

#[test]
fn cron_lines_quote_paths_for_sh_in_any_locale() {
    let dir = tempfile::tempdir().unwrap();
    fakes(dir.path());
    // `printf %q` wrote $'/srv/jos\303\251' under the C locale, which cron's dash reads as a
    // literal `$`: every job failed to cd.
    let home = "/srv/jos\u{e9}'s logs";
    let out = Command::new("bash")
        .arg(script())
        .args([
            "--cron",
            "--home",
            home,
            "--bin",
            "/usr/local/bin/logwarden",
        ])
        .env("CRONTAB", dir.path().join("crontab"))
        .env("HOME", dir.path().join("home"))
        .env("LC_ALL", "C")
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = stdout(&out);
    let quoted = "'/srv/jos\u{e9}'\\''s logs'";
    assert!(
        text.contains(&format!("5 0 * * * cd {quoted} && mkdir -p log && ")),
        "{text}"
    );
    // And sh takes the quoting back to the path.
    let back = Command::new("sh")
        .args(["-c", &format!("printf %s {quoted}")])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&back.stdout), home);
}
