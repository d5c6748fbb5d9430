//! The deployment files (`docker/`, `deploy/k8s/`) checked offline: what they promise in their
//! comments and in `deploy/README.md` holds.
//!
//! - Every YAML file parses; no Secret object carries data, no kustomization generates one, and
//!   no compose value is a literal secret (only `${VAR}` references to `docker/.env`).
//! - The kustomize overlays are rendered with `kubectl kustomize` (Debian: `apt-get install
//!   kubernetes-client`), and the rendered objects are checked: secrets only through
//!   `secretKeyRef`, restricted security contexts, probes on the right paths, migrations only in
//!   the production Jobs, two or more production replicas, disruption budgets, network policies.
//! - Every environment variable a container gets is one its binary reads: the names in
//!   README.md's configuration tables (plus `RUST_LOG` and the credential variables the example
//!   package's bindings name).
//!
//! - Typed, with unknown fields rejected: the rendered overlays pass `kubernetes-validate
//!   --strict` (Kubernetes 1.33 schemas) and `docker/compose.yaml` passes `check-jsonschema` with
//!   the compose specification's schema (both from PyPI, installed by `.ci/run`); each check is
//!   shown to refuse a misspelt field.
//!
//! YAML is read with `serde_norway` (the maintained `serde_yaml` fork) into `serde_json::Value`.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use common::Service;
use serde::Deserialize as _;
use serde_json::{Map, Value};

// ---------------------------------------------------------------------------------------------
// Reading files

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// Every non-empty document of a YAML text, as JSON. `serde_norway::Value` first: it refuses
/// duplicate keys, which a JSON map would silently overwrite.
fn parse_yaml(text: &str, what: &str) -> Vec<Value> {
    serde_norway::Deserializer::from_str(text)
        .map(|doc| {
            let yaml =
                serde_norway::Value::deserialize(doc).unwrap_or_else(|e| panic!("{what}: {e}"));
            serde_json::to_value(&yaml).unwrap_or_else(|e| panic!("{what}: {e}"))
        })
        .filter(|v| !v.is_null())
        .collect()
}

fn load_yaml(path: &Path) -> Vec<Value> {
    parse_yaml(&read(path), &path.display().to_string())
}

fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if matches!(
                path.extension().and_then(|e| e.to_str()),
                Some("yaml" | "yml")
            ) {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

fn s<'a>(v: &'a Value, pointer: &str) -> Option<&'a str> {
    v.pointer(pointer).and_then(Value::as_str)
}

fn arr<'a>(v: &'a Value, pointer: &str) -> &'a [Value] {
    v.pointer(pointer)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

fn obj<'a>(v: &'a Value, pointer: &str) -> Option<&'a Map<String, Value>> {
    v.pointer(pointer).and_then(Value::as_object)
}

// ---------------------------------------------------------------------------------------------
// What the binaries accept (README.md) and which names are secrets

/// The variable names of one `### <heading>` table under README.md's "## Configuration".
fn readme_table(readme: &str, heading: &str) -> BTreeSet<String> {
    let section = readme
        .split("\n## ")
        .find(|s| s.starts_with("Configuration"))
        .expect("README.md has a Configuration section");
    let table = section
        .split("\n### ")
        .find(|s| s.starts_with(heading))
        .unwrap_or_else(|| panic!("README.md has no `### {heading}` configuration table"));
    let mut names = BTreeSet::new();
    for line in table.lines().filter(|l| l.starts_with("| `")) {
        let first_cell = line.split('|').nth(1).unwrap();
        for (i, token) in first_cell.split('`').enumerate() {
            if i % 2 == 1 && is_env_name(token) {
                names.insert(token.to_owned());
            }
        }
    }
    assert!(
        names.len() > 5,
        "README.md `### {heading}` table: too few names"
    );
    names
}

fn is_env_name(token: &str) -> bool {
    token.starts_with(|c: char| c.is_ascii_uppercase())
        && token
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

/// Names README.md's purpose column calls "a secret".
fn readme_secrets(readme: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for line in readme
        .lines()
        .filter(|l| l.starts_with("| `") && l.contains("a secret"))
    {
        let first_cell = line.split('|').nth(1).unwrap();
        for (i, token) in first_cell.split('`').enumerate() {
            if i % 2 == 1 && is_env_name(token) {
                out.insert(token.to_owned());
            }
        }
    }
    out
}

/// The credential variables the example package's backend bindings name
/// (`credentials.env` / `credentials.file_env`), which the runtime reads.
fn example_credential_vars() -> BTreeSet<String> {
    fn walk(v: &Value, out: &mut BTreeSet<String>) {
        match v {
            Value::Object(map) => {
                if let Some(Value::Object(creds)) = map.get("credentials") {
                    for key in ["env", "file_env"] {
                        if let Some(Value::String(name)) = creds.get(key) {
                            out.insert(name.clone());
                        }
                    }
                }
                map.values().for_each(|v| walk(v, out));
            }
            Value::Array(items) => items.iter().for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    let bundle: Value = serde_json::from_str(&read(&common::example_bundle())).unwrap();
    let mut out = BTreeSet::new();
    walk(&bundle, &mut out);
    assert!(
        !out.is_empty(),
        "the example package names no credential variable"
    );
    out
}

/// What each service's containers may be given.
fn allowed_env() -> BTreeMap<&'static str, BTreeSet<String>> {
    let readme = read(&repo().join("README.md"));
    assert!(
        readme.contains("`RUST_LOG`"),
        "README.md documents RUST_LOG"
    );
    let mut allowed = BTreeMap::new();
    for (service, heading) in [
        (Service::Registry, "Registry"),
        (Service::Studio, "Studio"),
        (Service::Runtime, "Runtime"),
    ] {
        let mut names = readme_table(&readme, heading);
        assert!(
            names.contains(service.database_var())
                && names.contains(service.run_migrations_var())
                && names.contains(service.migrate_only_var()),
            "README.md `### {heading}` lacks the database or migration variables"
        );
        names.insert("RUST_LOG".to_owned());
        if let Service::Runtime = service {
            names.extend(example_credential_vars());
        }
        allowed.insert(image_name(service), names);
    }
    allowed
}

/// Whether a variable holds a secret (credentials, connection strings with passwords).
fn is_secret(name: &str) -> bool {
    name == "DATABASE_URL"
        || [
            "_DATABASE_URL",
            "_TOKEN",
            "_PRIVATE_KEY",
            "_API_KEY",
            "_API_KEY_HASHES",
            "_PASSWORD",
        ]
        .iter()
        .any(|suffix| name.ends_with(suffix))
}

#[test]
fn readme_secrets_are_all_treated_as_secrets() {
    let readme = read(&repo().join("README.md"));
    let secrets = readme_secrets(&readme);
    assert!(secrets.len() >= 4, "README.md marks secrets: {secrets:?}");
    for name in secrets {
        assert!(
            is_secret(&name),
            "README.md calls {name} a secret; extend is_secret"
        );
    }
    for service in Service::ALL {
        assert!(is_secret(service.database_var()));
    }
}

// ---------------------------------------------------------------------------------------------
// Images

fn image_name(service: Service) -> &'static str {
    match service {
        Service::Registry => "anip-registry",
        Service::Studio => "anip-studio",
        Service::Runtime => "anip-runtime",
    }
}

fn port(service: Service) -> u16 {
    match service {
        Service::Registry => 8200,
        Service::Studio => 8100,
        Service::Runtime => 9100,
    }
}

/// The service an image reference (`[registry/path/]name[:tag][@digest]`, compose's `${VAR}`
/// parts removed) runs.
fn service_of_image(image: &str) -> Option<Service> {
    let image = strip_references(image);
    let without_digest = image.split('@').next().unwrap();
    let last = without_digest.rsplit('/').next().unwrap();
    let name = last.split(':').next().unwrap();
    Service::ALL.into_iter().find(|s| image_name(*s) == name)
}

#[test]
fn dockerfiles_are_scratch_nonroot_and_label_their_source() {
    let docker = repo().join("docker");
    let cases: [(&str, &str, Option<Service>); 4] = [
        (
            "registry",
            Service::Registry.binary(),
            Some(Service::Registry),
        ),
        ("studio", Service::Studio.binary(), Some(Service::Studio)),
        ("runtime", Service::Runtime.binary(), Some(Service::Runtime)),
        ("anip", "anip", None),
    ];
    for (file, binary, service) in cases {
        let path = docker.join(format!("{file}.Dockerfile"));
        let text = read(&path);
        let what = path.display().to_string();
        // Instructions, with continuation lines joined.
        let joined = text.replace("\\\n", " ");
        let instructions: Vec<&str> = joined
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .collect();
        let with = |keyword: &str| -> Vec<&str> {
            instructions
                .iter()
                .filter(|l| {
                    l.split_whitespace()
                        .next()
                        .is_some_and(|k| k.eq_ignore_ascii_case(keyword))
                })
                .map(|l| l[keyword.len()..].trim())
                .collect()
        };
        assert_eq!(with("FROM"), ["scratch"], "{what}: FROM scratch only");
        assert_eq!(
            with("USER"),
            ["65532:65532"],
            "{what}: numeric non-root USER"
        );
        assert_eq!(
            with("ENTRYPOINT"),
            [format!("[\"/usr/local/bin/{binary}\"]")],
            "{what}"
        );
        assert_eq!(with("STOPSIGNAL"), ["SIGTERM"], "{what}");
        let copies = with("COPY");
        assert!(
            copies.contains(&"rootfs/ /")
                && copies.contains(&format!("{binary} /usr/local/bin/{binary}").as_str()),
            "{what}: copies rootfs/ and the binary: {copies:?}"
        );
        assert!(
            with("ENV").is_empty(),
            "{what}: no ENV (configuration and secrets arrive at run time)"
        );
        for arg in ["VERSION", "REVISION", "SOURCE"] {
            assert!(
                with("ARG").iter().any(|a| a.starts_with(arg)),
                "{what}: ARG {arg}"
            );
        }
        let labels = with("LABEL").join(" ");
        for (label, arg) in [
            ("source", "SOURCE"),
            ("version", "VERSION"),
            ("revision", "REVISION"),
        ] {
            assert!(
                labels.contains(&format!("org.opencontainers.image.{label}=\"${{{arg}}}\"")),
                "{what}: OCI label {label} from ARG {arg}"
            );
        }
        match service {
            Some(service) => assert_eq!(with("EXPOSE"), [port(service).to_string()], "{what}"),
            None => assert!(with("EXPOSE").is_empty(), "{what}: the CLI serves nothing"),
        }
    }
    let passwd = read(&docker.join("rootfs/etc/passwd"));
    assert!(
        passwd.contains(":65532:65532:"),
        "rootfs/etc/passwd names 65532"
    );
}

// ---------------------------------------------------------------------------------------------
// Compose

/// `${NAME}`-style references in a compose value: (name, operator, argument).
fn references(value: &str) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    let mut rest = value;
    while let Some(start) = rest.find("${") {
        let after = &rest[start + 2..];
        let end = after
            .find('}')
            .unwrap_or_else(|| panic!("unclosed ${{ in {value:?}"));
        let inner = &after[..end];
        let name_len = inner
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(inner.len());
        let (name, tail) = inner.split_at(name_len);
        let op_len = tail
            .find(|c: char| !matches!(c, ':' | '-' | '?' | '+'))
            .unwrap_or(tail.len());
        let (op, arg) = tail.split_at(op_len);
        out.push((name.to_owned(), op.to_owned(), arg.to_owned()));
        rest = &after[end + 1..];
    }
    out
}

/// `value` without its `${...}` references.
fn strip_references(value: &str) -> String {
    let mut text = value.to_owned();
    while let Some(start) = text.find("${") {
        let end = start
            + text[start..]
                .find('}')
                .unwrap_or_else(|| panic!("unclosed ${{ in {value:?}"));
        text.replace_range(start..=end, "");
    }
    text
}

/// A compose value that holds a secret must come from the environment: references without a
/// non-empty default, and nothing literal but the non-secret parts of a connection URL.
fn assert_secret_is_referenced(service: &str, name: &str, value: &str) {
    let refs = references(value);
    assert!(
        !refs.is_empty(),
        "compose service {service}: {name} must be a ${{VAR}} reference, not a literal"
    );
    for (var, op, arg) in &refs {
        let defaulted = op.contains('-') || op.contains('+');
        assert!(
            !defaulted || arg.is_empty(),
            "compose service {service}: {name} gives ${{{var}}} a default value"
        );
    }
    if let Some((_scheme, rest)) = value.split_once("://") {
        // postgres://user:${PASSWORD}@host/db: the password is exactly one reference.
        let (_user, after_user) = rest
            .split_once(':')
            .unwrap_or_else(|| panic!("compose service {service}: {name} has no password"));
        let end = after_user.find('}').unwrap_or(0);
        assert!(
            after_user.starts_with("${") && after_user[end + 1..].starts_with('@'),
            "compose service {service}: the password in {name} must be one ${{VAR}} reference"
        );
    } else {
        assert!(
            strip_references(value).is_empty(),
            "compose service {service}: {name} has literal text around its reference"
        );
    }
}

fn compose() -> Map<String, Value> {
    let path = repo().join("docker/compose.yaml");
    let docs = load_yaml(&path);
    assert_eq!(docs.len(), 1, "compose.yaml is one document");
    docs[0].as_object().unwrap().clone()
}

#[test]
fn compose_services_are_healthchecked_and_hold_no_secret() {
    let compose = compose();
    assert!(
        !compose.contains_key("name"),
        "no top-level name: (docker-compose 1.29 rejects it)"
    );
    let allowed = allowed_env();
    let services = compose["services"].as_object().expect("services");
    let volumes = compose
        .get("volumes")
        .and_then(Value::as_object)
        .expect("top-level named volumes");
    let mut seen = BTreeSet::new();
    for (name, svc) in services {
        let healthcheck = svc
            .get("healthcheck")
            .unwrap_or_else(|| panic!("compose service {name} has no healthcheck"));
        let test: Vec<&str> = arr(healthcheck, "/test")
            .iter()
            .map(|t| t.as_str().unwrap())
            .collect();
        assert!(
            test.len() > 1 && matches!(test[0], "CMD" | "CMD-SHELL"),
            "compose service {name}: healthcheck test {test:?}"
        );
        assert!(
            healthcheck.get("disable").is_none(),
            "compose service {name}: healthcheck disabled"
        );
        if let Some(deps) = svc.get("depends_on") {
            let deps = deps
                .as_object()
                .unwrap_or_else(|| panic!("compose service {name}: depends_on in long form"));
            for (dep, how) in deps {
                assert!(
                    services.contains_key(dep),
                    "{name} depends on unknown {dep}"
                );
                assert_eq!(
                    s(how, "/condition"),
                    Some("service_healthy"),
                    "compose service {name}: depends_on {dep} waits for health"
                );
            }
        }
        let env = svc
            .get("environment")
            .map(|e| {
                e.as_object()
                    .unwrap_or_else(|| panic!("compose service {name}: environment as a map"))
                    .clone()
            })
            .unwrap_or_default();
        for (var, value) in &env {
            let value = value.as_str().unwrap_or_else(|| {
                panic!("compose service {name}: {var} must be a string (quote it)")
            });
            if is_secret(var) {
                assert_secret_is_referenced(name, var, value);
            }
        }
        for port in arr(svc, "/ports") {
            let port = port.as_str().expect("ports as strings");
            assert!(
                port.starts_with("127.0.0.1:"),
                "compose service {name}: publish on loopback only ({port}); a TLS proxy fronts it"
            );
        }
        let image = s(svc, "/image").unwrap_or_else(|| panic!("{name}: image"));
        if let Some(service) = service_of_image(image) {
            seen.insert(image_name(service));
            for var in env.keys() {
                assert!(
                    allowed[image_name(service)].contains(var),
                    "compose service {name}: {var} is not a variable {} reads (README.md)",
                    service.binary()
                );
            }
            let readyz = service.health_paths()[1];
            assert_eq!(
                test,
                [
                    "CMD",
                    service.binary(),
                    "healthcheck",
                    &format!("http://127.0.0.1:{}{readyz}", port(service)),
                ],
                "compose service {name}: readiness through the binary's healthcheck subcommand"
            );
            assert_eq!(s(svc, "/user"), Some("65532:65532"), "{name}: user");
            assert_eq!(svc.get("read_only"), Some(&Value::Bool(true)), "{name}");
            assert_eq!(
                svc.get("cap_drop"),
                Some(&serde_json::json!(["ALL"])),
                "{name}"
            );
            assert!(
                arr(svc, "/security_opt")
                    .iter()
                    .any(|o| o.as_str() == Some("no-new-privileges:true")),
                "{name}: no-new-privileges"
            );
            let postgres_dep = svc.pointer("/depends_on/postgres/condition");
            assert_eq!(
                postgres_dep.and_then(Value::as_str),
                Some("service_healthy"),
                "{name} waits for Postgres"
            );
        } else {
            assert!(
                image.starts_with("postgres:16"),
                "compose service {name}: unexpected image {image}"
            );
            assert!(test.iter().any(|t| t.contains("pg_isready")), "{name}");
            for mount in arr(svc, "/volumes") {
                let source = mount.as_str().unwrap().split(':').next().unwrap();
                if !source.starts_with('.') && !source.starts_with('/') {
                    assert!(
                        volumes.contains_key(source),
                        "named volume {source} declared"
                    );
                }
            }
            assert!(
                arr(svc, "/volumes")
                    .iter()
                    .any(|m| m.as_str().unwrap().starts_with("postgres-data:")),
                "Postgres data on a named volume"
            );
        }
    }
    assert_eq!(
        seen.len(),
        3,
        "compose runs the Registry, Studio and the runtime"
    );
    assert_eq!(
        s(&services["studio"], "/environment/STUDIO_REGISTRY_URL"),
        Some("http://registry:8200/registry-api/v1")
    );
}

#[test]
fn compose_variables_are_documented_in_env_example() {
    let compose_text = read(&repo().join("docker/compose.yaml"));
    let example = read(&repo().join("docker/.env.example"));
    let mut documented = BTreeMap::new();
    for line in example.lines() {
        let line = line.trim_start_matches("# ");
        if let Some((name, value)) = line.split_once('=') {
            if is_env_name(name) {
                documented.insert(name.to_owned(), value.to_owned());
            }
        }
    }
    for line in compose_text
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
    {
        for (var, _, _) in references(line) {
            assert!(
                documented.contains_key(&var),
                "docker/.env.example does not document {var}"
            );
        }
    }
    for (name, value) in &documented {
        if is_secret(name) || name.ends_with("_PRIVATE_KEY") {
            assert!(
                value.is_empty(),
                "docker/.env.example carries a value for the secret {name}"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Kubernetes: the files as committed

#[test]
fn no_secret_is_committed_in_deployment_files() {
    let mut files = yaml_files(&repo().join("deploy"));
    files.extend(yaml_files(&repo().join("docker")));
    assert!(files.len() >= 8, "deployment YAML files found: {files:?}");
    for path in &files {
        let text = read(path);
        assert!(
            !text.contains("PRIVATE KEY-----"),
            "{}: key material",
            path.display()
        );
        for doc in load_yaml(path) {
            if s(&doc, "/kind") == Some("Secret") {
                assert!(
                    doc.get("data").is_none() && doc.get("stringData").is_none(),
                    "{}: a Secret with data is committed",
                    path.display()
                );
            }
            if s(&doc, "/kind") == Some("Kustomization") || path.ends_with("kustomization.yaml") {
                assert!(
                    doc.get("secretGenerator").is_none(),
                    "{}: secretGenerator",
                    path.display()
                );
                for gen in arr(&doc, "/configMapGenerator") {
                    for literal in arr(gen, "/literals") {
                        let name = literal.as_str().unwrap().split('=').next().unwrap();
                        assert!(
                            !is_secret(name),
                            "{}: secret {name} in a ConfigMap",
                            path.display()
                        );
                    }
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Kubernetes: rendered overlays

/// Runs a validator from PyPI (`.ci/run` installs them) on `file`; its output on failure.
fn validator(program: &str, args: &[&str], file: &Path) -> Result<(), String> {
    let output = match Command::new(program).args(args).arg(file).output() {
        Ok(output) => output,
        Err(e) => panic!(
            "{program} is needed for the schema checks: {e}. Install it: \
             `python3 -m pip install kubernetes-validate check-jsonschema`"
        ),
    };
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}

/// Writes `objects` as one multi-document file (JSON is YAML) under target/tmp.
fn write_documents(label: &str, objects: &[Value]) -> PathBuf {
    let dir = repo().join("target/tmp/deploy-manifests");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{label}-{}.yaml", std::process::id()));
    let text: Vec<String> = objects.iter().map(|o| o.to_string()).collect();
    std::fs::write(&path, text.join("\n---\n")).unwrap();
    path
}

/// `kubernetes-validate --strict` against the oldest Kubernetes still supported: every rendered
/// object is typed against the API's schema, and unknown fields are rejected.
fn kubernetes_validate(label: &str, objects: &[Value]) -> Result<(), String> {
    let file = write_documents(label, objects);
    let outcome = validator(
        "kubernetes-validate",
        &["--strict", "--quiet", "--kubernetes-version", "1.33.0"],
        &file,
    );
    let _ = std::fs::remove_file(&file);
    outcome
}

#[test]
fn rendered_overlays_validate_strictly_against_the_kubernetes_schema() {
    for overlay in ["single", "production"] {
        let objects = render(overlay);
        if let Err(report) = kubernetes_validate(overlay, &objects) {
            panic!("{overlay}: {report}");
        }
    }
    // The check can fail: a misspelt container field is refused.
    let mut objects = render("single");
    let deployment = objects
        .iter_mut()
        .find(|o| s(o, "/kind") == Some("Deployment"))
        .unwrap();
    deployment["spec"]["template"]["spec"]["containers"][0]["imagePullPolicyy"] =
        Value::from("Always");
    assert!(kubernetes_validate("misspelt", &objects).is_err());
}

#[test]
fn compose_file_validates_against_the_compose_specification() {
    let schema = ["--builtin-schema", "vendor.compose-spec"];
    let compose_file = repo().join("docker/compose.yaml");
    if let Err(report) = validator("check-jsonschema", &schema, &compose_file) {
        panic!("docker/compose.yaml: {report}");
    }
    // The check can fail: an unknown service key is refused.
    let mut document = Value::Object(compose());
    document["services"]["registry"]["healthchek"] = Value::from("typo");
    let file = write_documents("compose-typo", &[document]);
    let outcome = validator("check-jsonschema", &schema, &file);
    let _ = std::fs::remove_file(&file);
    assert!(outcome.is_err(), "a misspelt compose key passed");
}

/// `kubectl kustomize` of an overlay, parsed.
fn render(overlay: &str) -> Vec<Value> {
    let dir = repo().join("deploy/k8s/overlays").join(overlay);
    let output = match Command::new("kubectl").arg("kustomize").arg(&dir).output() {
        Ok(output) => output,
        Err(e) => panic!(
            "kubectl is needed to render {}: {e}. Install it (Debian: `apt-get install \
             kubernetes-client`; any kubectl >= 1.20 renders these overlays)",
            dir.display()
        ),
    };
    assert!(
        output.status.success(),
        "kubectl kustomize {} failed:\n{}",
        dir.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8(output.stdout).unwrap();
    parse_yaml(&text, &format!("kubectl kustomize {overlay}"))
}

fn kind<'a>(objects: &'a [Value], kind: &str) -> Vec<&'a Value> {
    objects
        .iter()
        .filter(|o| s(o, "/kind") == Some(kind))
        .collect()
}

fn name(object: &Value) -> &str {
    s(object, "/metadata/name").unwrap()
}

/// Whether a LabelSelector selects `labels`.
fn selects(selector: &Value, labels: &Map<String, Value>) -> bool {
    let match_labels = obj(selector, "/matchLabels")
        .map(|m| {
            m.iter()
                .all(|(k, v)| labels.get(k).and_then(Value::as_str) == v.as_str())
        })
        .unwrap_or(true);
    let expressions = arr(selector, "/matchExpressions").iter().all(|e| {
        let key = s(e, "/key").unwrap();
        let values: Vec<&str> = arr(e, "/values").iter().filter_map(Value::as_str).collect();
        let label = labels.get(key).and_then(Value::as_str);
        match s(e, "/operator").unwrap() {
            "In" => label.is_some_and(|l| values.contains(&l)),
            "NotIn" => label.is_none_or(|l| !values.contains(&l)),
            "Exists" => label.is_some(),
            "DoesNotExist" => label.is_none(),
            other => panic!("unknown selector operator {other}"),
        }
    });
    match_labels && expressions
}

fn pod_labels(workload: &Value) -> Map<String, Value> {
    obj(workload, "/spec/template/metadata/labels")
        .cloned()
        .unwrap_or_default()
}

/// A container's effective environment: its ConfigMaps' data, then its `env` (which wins).
/// Secret values are shown as `<secret NAME/KEY>`.
fn effective_env(
    container: &Value,
    config_maps: &BTreeMap<String, Map<String, Value>>,
    what: &str,
) -> BTreeMap<String, String> {
    let mut env = BTreeMap::new();
    for source in arr(container, "/envFrom") {
        let cm = s(source, "/configMapRef/name").unwrap_or_else(|| {
            panic!("{what}: envFrom takes ConfigMaps only (secrets go through secretKeyRef)")
        });
        let data = config_maps
            .get(cm)
            .unwrap_or_else(|| panic!("{what}: ConfigMap {cm} is not rendered"));
        for (k, v) in data {
            env.insert(k.clone(), v.as_str().unwrap().to_owned());
        }
    }
    for entry in arr(container, "/env") {
        let var = s(entry, "/name").unwrap().to_owned();
        let value = match (entry.get("value"), entry.get("valueFrom")) {
            (Some(Value::String(v)), None) => v.clone(),
            (Some(other), None) => panic!("{what}: {var} = {other} must be a quoted string"),
            (None, Some(from)) => {
                if let Some(secret) = from.get("secretKeyRef") {
                    format!(
                        "<secret {}/{}>",
                        s(secret, "/name").unwrap(),
                        s(secret, "/key").unwrap()
                    )
                } else if from.get("fieldRef").is_some() {
                    "<field>".to_owned()
                } else {
                    panic!("{what}: {var} must be a value, a secretKeyRef or a fieldRef")
                }
            }
            _ => panic!("{what}: {var} needs exactly one of value and valueFrom"),
        };
        env.insert(var, value);
    }
    env
}

/// The checks every rendered overlay passes; returns each workload's effective environment by
/// (kind, name).
fn check_rendered(
    overlay: &str,
    objects: &[Value],
) -> BTreeMap<(String, String), BTreeMap<String, String>> {
    let allowed = allowed_env();
    let config_maps: BTreeMap<String, Map<String, Value>> = kind(objects, "ConfigMap")
        .into_iter()
        .map(|cm| {
            (
                name(cm).to_owned(),
                obj(cm, "/data").cloned().unwrap_or_default(),
            )
        })
        .collect();
    for (cm, data) in &config_maps {
        for (k, v) in data {
            assert!(!is_secret(k), "{overlay}: secret {k} in ConfigMap {cm}");
            assert!(
                v.is_string(),
                "{overlay}: ConfigMap {cm} {k} is not a string"
            );
        }
    }
    assert!(
        kind(objects, "Secret").is_empty(),
        "{overlay}: Secrets are created out of band, never rendered"
    );
    let namespaces = kind(objects, "Namespace");
    assert_eq!(namespaces.len(), 1, "{overlay}: one Namespace");
    assert_eq!(
        s(
            namespaces[0],
            "/metadata/labels/pod-security.kubernetes.io~1enforce"
        ),
        Some("restricted"),
        "{overlay}: the namespace enforces the restricted Pod Security profile"
    );

    let mut envs = BTreeMap::new();
    let workloads: Vec<&Value> = objects
        .iter()
        .filter(|o| matches!(s(o, "/kind"), Some("Deployment" | "Job")))
        .collect();
    for workload in &workloads {
        let what = format!(
            "{overlay}: {} {}",
            s(workload, "/kind").unwrap(),
            name(workload)
        );
        let pod = workload.pointer("/spec/template/spec").unwrap();
        assert_eq!(
            pod.get("automountServiceAccountToken"),
            Some(&Value::Bool(false)),
            "{what}: no API token in the pod"
        );
        assert_eq!(
            pod.get("enableServiceLinks"),
            Some(&Value::Bool(false)),
            "{what}: service links would inject ANIP_RUNTIME_PORT=tcp://... and the like"
        );
        assert_eq!(
            pod.pointer("/securityContext/runAsNonRoot"),
            Some(&Value::Bool(true)),
            "{what}"
        );
        assert_ne!(
            pod.pointer("/securityContext/runAsUser")
                .and_then(Value::as_i64),
            Some(0),
            "{what}"
        );
        assert_eq!(
            s(pod, "/securityContext/seccompProfile/type"),
            Some("RuntimeDefault"),
            "{what}"
        );
        assert!(
            arr(pod, "/initContainers").is_empty(),
            "{what}: no init containers (readiness gates the rollout)"
        );
        let containers = arr(pod, "/containers");
        assert_eq!(containers.len(), 1, "{what}: one container");
        let container = &containers[0];
        let sc = container
            .get("securityContext")
            .unwrap_or_else(|| panic!("{what}: container securityContext"));
        assert_eq!(
            sc.get("allowPrivilegeEscalation"),
            Some(&Value::Bool(false)),
            "{what}"
        );
        assert_eq!(
            sc.get("readOnlyRootFilesystem"),
            Some(&Value::Bool(true)),
            "{what}"
        );
        assert_eq!(sc.get("runAsNonRoot"), Some(&Value::Bool(true)), "{what}");
        assert_ne!(sc.get("privileged"), Some(&Value::Bool(true)), "{what}");
        assert!(
            arr(sc, "/capabilities/drop")
                .iter()
                .any(|c| c.as_str() == Some("ALL")),
            "{what}: drops ALL capabilities"
        );
        assert!(arr(sc, "/capabilities/add").is_empty(), "{what}: adds none");
        for field in [
            "requests/cpu",
            "requests/memory",
            "limits/cpu",
            "limits/memory",
        ] {
            assert!(
                container.pointer(&format!("/resources/{field}")).is_some(),
                "{what}: resources.{}",
                field.replace('/', ".")
            );
        }
        let image = s(container, "/image").unwrap();
        let tag = image
            .rsplit('/')
            .next()
            .unwrap()
            .split_once(':')
            .map(|(_, t)| t);
        assert!(
            image.contains('@') || tag.is_some_and(|t| t != "latest"),
            "{what}: image {image} pinned to a tag or digest"
        );
        let service = service_of_image(image)
            .unwrap_or_else(|| panic!("{what}: image {image} is none of ours"));
        let env = effective_env(container, &config_maps, &what);
        for (var, value) in &env {
            assert!(
                allowed[image_name(service)].contains(var),
                "{what}: {var} is not a variable {} reads (README.md)",
                service.binary()
            );
            if is_secret(var) {
                assert_eq!(
                    value,
                    &format!("<secret {}-secrets/{var}>", image_name(service)),
                    "{what}: {var} comes from the service's Secret, key named as the variable"
                );
            }
        }
        for entry in arr(container, "/env") {
            if let Some(secret) = entry.pointer("/valueFrom/secretKeyRef") {
                assert_eq!(
                    s(secret, "/name"),
                    Some(format!("{}-secrets", image_name(service)).as_str()),
                    "{what}: secrets come from the service's own Secret"
                );
                assert_eq!(s(secret, "/key"), s(entry, "/name"), "{what}");
            }
        }
        assert!(
            env.contains_key(service.database_var()),
            "{what}: {}",
            service.database_var()
        );

        if s(workload, "/kind") == Some("Deployment") {
            let selector = workload.pointer("/spec/selector").unwrap();
            let labels = pod_labels(workload);
            assert!(
                selects(selector, &labels),
                "{what}: selector matches its pods"
            );
            let ports = arr(container, "/ports");
            assert!(
                ports.iter().any(|p| s(p, "/name") == Some("http")
                    && p.pointer("/containerPort").and_then(Value::as_u64)
                        == Some(u64::from(port(service)))),
                "{what}: port http = {}",
                port(service)
            );
            let [live, ready, _metrics] = service.health_paths();
            for (probe, path) in [
                ("readinessProbe", ready),
                ("livenessProbe", live),
                ("startupProbe", live),
            ] {
                let probe_value = container
                    .get(probe)
                    .unwrap_or_else(|| panic!("{what}: {probe}"));
                assert_eq!(
                    s(probe_value, "/httpGet/path"),
                    Some(path),
                    "{what}: {probe}"
                );
                assert_eq!(
                    s(probe_value, "/httpGet/port"),
                    Some("http"),
                    "{what}: {probe}"
                );
            }
            assert_eq!(
                s(workload, "/spec/strategy/rollingUpdate/maxUnavailable")
                    .map(str::to_owned)
                    .or_else(|| workload
                        .pointer("/spec/strategy/rollingUpdate/maxUnavailable")
                        .map(ToString::to_string)),
                Some("0".to_owned()),
                "{what}: a rollout keeps every ready replica until its successor is ready"
            );
        }
        envs.insert(
            (
                s(workload, "/kind").unwrap().to_owned(),
                name(workload).to_owned(),
            ),
            env,
        );
    }

    // Services select their Deployment's pods and never a Job's.
    let deployments = kind(objects, "Deployment");
    assert_eq!(deployments.len(), 3, "{overlay}: three Deployments");
    for svc in kind(objects, "Service") {
        let selector = Value::Object(
            [(
                "matchLabels".to_owned(),
                svc.pointer("/spec/selector").cloned().unwrap(),
            )]
            .into_iter()
            .collect(),
        );
        let selected: Vec<&str> = deployments
            .iter()
            .filter(|d| selects(&selector, &pod_labels(d)))
            .map(|d| name(d))
            .collect();
        assert_eq!(
            selected,
            [name(svc)],
            "{overlay}: Service {} selects",
            name(svc)
        );
        for job in kind(objects, "Job") {
            assert!(
                !selects(&selector, &pod_labels(job)),
                "{overlay}: Service {} would route to Job {}",
                name(svc),
                name(job)
            );
        }
        assert!(
            arr(svc, "/spec/ports")
                .iter()
                .all(|p| s(p, "/targetPort") == Some("http")),
            "{overlay}: Service {} targets the named port",
            name(svc)
        );
    }
    envs
}

fn deployment_of(objects: &[Value], service: Service) -> &Value {
    kind(objects, "Deployment")
        .into_iter()
        .find(|d| name(d) == image_name(service))
        .unwrap_or_else(|| panic!("Deployment {}", image_name(service)))
}

#[test]
fn single_overlay_runs_one_registry_that_migrates_at_start() {
    let objects = render("single");
    let envs = check_rendered("single", &objects);
    assert!(kind(&objects, "Job").is_empty(), "single: no migration Job");
    for service in Service::ALL {
        let deployment = deployment_of(&objects, service);
        assert_eq!(
            deployment.pointer("/spec/replicas").and_then(Value::as_u64),
            Some(1),
            "single: one {} replica",
            image_name(service)
        );
        let env = &envs[&("Deployment".to_owned(), image_name(service).to_owned())];
        assert_eq!(
            env.get(service.run_migrations_var()).map(String::as_str),
            Some("1"),
            "single: {} migrates at start",
            image_name(service)
        );
        assert_ne!(
            env.get(service.migrate_only_var()).map(String::as_str),
            Some("1")
        );
    }
}

#[test]
fn production_overlay_migrates_in_jobs_and_runs_replicas_behind_policies() {
    let objects = render("production");
    let envs = check_rendered("production", &objects);

    for service in Service::ALL {
        let deployment = deployment_of(&objects, service);
        let what = format!("production: Deployment {}", image_name(service));
        assert!(
            deployment
                .pointer("/spec/replicas")
                .and_then(Value::as_u64)
                .is_some_and(|r| r >= 2),
            "{what}: two or more replicas"
        );
        let env = &envs[&("Deployment".to_owned(), image_name(service).to_owned())];
        assert_eq!(
            env.get(service.run_migrations_var()).map(String::as_str),
            Some("0"),
            "{what}: {}=0 (the Job migrates)",
            service.run_migrations_var()
        );
        assert_ne!(
            env.get(service.migrate_only_var()).map(String::as_str),
            Some("1"),
            "{what}"
        );

        // Exactly one migrate-only Job for the service.
        let jobs: Vec<&Value> = kind(&objects, "Job")
            .into_iter()
            .filter(|j| {
                envs[&("Job".to_owned(), name(j).to_owned())]
                    .get(service.migrate_only_var())
                    .map(String::as_str)
                    == Some("1")
            })
            .collect();
        assert_eq!(jobs.len(), 1, "{what}: one migrate-only Job");
        assert_eq!(
            s(jobs[0], "/spec/template/spec/restartPolicy"),
            Some("Never"),
            "{what}: Job restartPolicy"
        );
        assert_eq!(
            service_of_image(s(jobs[0], "/spec/template/spec/containers/0/image").unwrap())
                .map(image_name),
            Some(image_name(service)),
        );

        // A PodDisruptionBudget over the same pods.
        let selector = deployment.pointer("/spec/selector").unwrap();
        let pdbs: Vec<&Value> = kind(&objects, "PodDisruptionBudget")
            .into_iter()
            .filter(|p| p.pointer("/spec/selector") == Some(selector))
            .collect();
        assert_eq!(pdbs.len(), 1, "{what}: one PodDisruptionBudget");
        assert!(
            pdbs[0]
                .pointer("/spec/minAvailable")
                .and_then(Value::as_u64)
                .is_some_and(|m| m >= 1),
            "{what}: the budget keeps a replica"
        );
    }
    assert_eq!(kind(&objects, "Job").len(), 3, "production: three Jobs");

    // The public Studio is read-only and cannot publish.
    let studio = &envs[&("Deployment".to_owned(), "anip-studio".to_owned())];
    assert_eq!(
        studio.get("STUDIO_READ_ONLY").map(String::as_str),
        Some("1")
    );
    assert!(
        !studio.contains_key("STUDIO_REGISTRY_PUBLISH_TOKEN"),
        "production: the read-only Studio gets no publish token"
    );
    let runtime = &envs[&("Deployment".to_owned(), "anip-runtime".to_owned())];
    assert_eq!(
        runtime
            .get("ANIP_RUNTIME_REQUIRE_SIGNED_BUNDLE")
            .map(String::as_str),
        Some("1"),
        "production: the runtime serves signed packages only"
    );

    check_network_policies(&objects);
}

fn check_network_policies(objects: &[Value]) {
    let policies = kind(objects, "NetworkPolicy");
    let ingress_types = |p: &Value| {
        arr(p, "/spec/policyTypes")
            .iter()
            .any(|t| t.as_str() == Some("Ingress"))
    };
    assert!(
        policies.iter().any(|p| {
            obj(p, "/spec/podSelector").is_some_and(Map::is_empty)
                && ingress_types(p)
                && arr(p, "/spec/ingress").is_empty()
        }),
        "production: a default-deny ingress policy"
    );
    let our_pods: Vec<Map<String, Value>> = kind(objects, "Deployment")
        .into_iter()
        .chain(kind(objects, "Job"))
        .map(pod_labels)
        .collect();
    let postgres: Map<String, Value> =
        [("app.kubernetes.io/name".to_owned(), Value::from("postgres"))]
            .into_iter()
            .collect();

    for policy in &policies {
        let what = format!("production: NetworkPolicy {}", name(policy));
        assert!(ingress_types(policy), "{what}: declares Ingress");
        let target = policy.pointer("/spec/podSelector").unwrap();
        for rule in arr(policy, "/spec/ingress") {
            let peers = arr(rule, "/from");
            assert!(
                !peers.is_empty(),
                "{what}: a rule without `from` admits everyone"
            );
            for peer in peers {
                assert!(peer.get("ipBlock").is_none(), "{what}: no ipBlock peers");
                match (peer.get("namespaceSelector"), peer.get("podSelector")) {
                    (Some(ns), None) => assert!(
                        s(ns, "/matchLabels/kubernetes.io~1metadata.name").is_some(),
                        "{what}: namespaces are named (the ingress controller's)"
                    ),
                    (None, Some(pods)) => assert!(
                        our_pods.iter().any(|labels| selects(pods, labels)),
                        "{what}: a pod peer selects none of our pods"
                    ),
                    _ => panic!("{what}: a peer is a named namespace or our pods"),
                }
            }
        }
        if selects(target, &postgres)
            && !obj(policy, "/spec/podSelector").is_some_and(Map::is_empty)
        {
            for rule in arr(policy, "/spec/ingress") {
                for peer in arr(rule, "/from") {
                    let pods = peer
                        .get("podSelector")
                        .unwrap_or_else(|| panic!("{what}: only our pods reach Postgres"));
                    assert_eq!(
                        s(pods, "/matchLabels/app.kubernetes.io~1part-of"),
                        Some("anip"),
                        "{what}: only our pods reach Postgres"
                    );
                }
            }
        }
    }
    assert!(
        policies.iter().any(|p| {
            let target = p.pointer("/spec/podSelector").unwrap();
            selects(target, &postgres) && !obj(p, "/spec/podSelector").is_some_and(Map::is_empty)
        }),
        "production: a policy guards Postgres"
    );
    // Each service is reachable from the ingress controller's namespace.
    for deployment in kind(objects, "Deployment") {
        let labels = pod_labels(deployment);
        assert!(
            policies.iter().any(|p| {
                selects(p.pointer("/spec/podSelector").unwrap(), &labels)
                    && arr(p, "/spec/ingress").iter().any(|rule| {
                        arr(rule, "/from")
                            .iter()
                            .any(|peer| peer.get("namespaceSelector").is_some())
                    })
            }),
            "production: the ingress controller reaches {}",
            name(deployment)
        );
    }
}
