//! Loading from a directory, checking files, and reloading through the store.

use std::fs;

use policies::{check_files, PolicyError, PolicySet, PolicyStore};

const TARGETS: &str =
    "[[target]]\nname = \"local\"\nkind = \"local\"\njurisdiction = { country = \"JP\" }\n";
const RULE_A: &str = "[[rule]]\nname = \"a\"\nrank = [\"cheapest\"]\n";
const RULE_B: &str = "[[rule]]\nname = \"b\"\nexclude = [\"local\"]\n";

#[test]
fn load_dir_reads_toml_files_sorted_by_name() {
    let directory = tempfile::tempdir().expect("temp dir");
    fs::write(directory.path().join("20-b.toml"), RULE_B).expect("write");
    fs::write(directory.path().join("10-a.toml"), RULE_A).expect("write");
    fs::write(directory.path().join("00-targets.toml"), TARGETS).expect("write");
    fs::write(directory.path().join("notes.txt"), "not toml").expect("write");
    fs::write(directory.path().join(".10-a.toml.swp.toml"), "garbage").expect("write");
    fs::create_dir(directory.path().join("sub.toml")).expect("mkdir");

    let policies = PolicySet::load_dir(directory.path()).expect("loads");
    let rule_names: Vec<&str> = policies
        .rules()
        .iter()
        .map(|rule| rule.name.as_str())
        .collect();
    assert_eq!(rule_names, ["a", "b"]);
    let file_names: Vec<String> = policies
        .files()
        .iter()
        .map(|file| file.rsplit('/').next().unwrap_or_default().to_string())
        .collect();
    assert_eq!(file_names, ["00-targets.toml", "10-a.toml", "20-b.toml"]);
}

#[test]
fn load_dir_reports_the_path_line_and_column() {
    let directory = tempfile::tempdir().expect("temp dir");
    fs::write(directory.path().join("00-targets.toml"), TARGETS).expect("write");
    fs::write(
        directory.path().join("10-bad.toml"),
        "[[rule]]\nname = \"x\"\nexclude = [\"remote\"]\n",
    )
    .expect("write");
    let error = PolicySet::load_dir(directory.path()).expect_err("invalid");
    let expected = format!(
        "{}:3:12: rule \"x\" names unknown target \"remote\"",
        directory.path().join("10-bad.toml").display()
    );
    assert_eq!(error.to_string(), expected);
}

#[test]
fn a_missing_directory_is_an_io_error() {
    let directory = tempfile::tempdir().expect("temp dir");
    let error = PolicySet::load_dir(directory.path().join("absent")).expect_err("missing");
    assert!(matches!(error, PolicyError::ReadDir { .. }), "{error:?}");
    assert!(error.diagnostics().is_empty());
}

#[test]
fn check_files_validates_files_together() {
    let directory = tempfile::tempdir().expect("temp dir");
    let targets = directory.path().join("targets.toml");
    let rules = directory.path().join("rules.toml");
    fs::write(&targets, TARGETS).expect("write");
    fs::write(&rules, RULE_B).expect("write");
    let checked = check_files(&[&targets, &rules]).expect("valid together");
    assert_eq!(checked.rules().len(), 1);
    let error = check_files(&[&rules]).expect_err("rules alone name an unknown target");
    assert_eq!(error.diagnostics()[0].line, 3);
    assert_eq!(error.diagnostics()[0].column, 12);
    let missing = check_files(&[directory.path().join("nope.toml")]).expect_err("missing file");
    assert!(
        matches!(missing, PolicyError::ReadFile { .. }),
        "{missing:?}"
    );
}

#[test]
fn the_store_keeps_the_last_good_set_on_reload() {
    let directory = tempfile::tempdir().expect("temp dir");
    fs::write(directory.path().join("00-targets.toml"), TARGETS).expect("write");
    fs::write(directory.path().join("10-a.toml"), RULE_A).expect("write");
    let mut store = PolicyStore::new(PolicySet::empty());
    store.reload_dir(directory.path()).expect("first load");
    let in_force = store.current();
    assert_eq!(in_force.rules()[0].name, "a");

    fs::write(
        directory.path().join("10-a.toml"),
        "[[rule]]\nname = \"a\"\nrank = [\"cheapest\"]\nbogus = 1\n",
    )
    .expect("write");
    let error = store
        .reload_dir(directory.path())
        .expect_err("typo rejected");
    assert!(
        error
            .to_string()
            .contains("10-a.toml:4:1: unknown field `bogus`"),
        "{error}"
    );
    assert_eq!(store.current(), in_force);
    assert_eq!(store.generation(), 1);

    fs::write(directory.path().join("10-a.toml"), RULE_B).expect("write");
    let fixed = store.reload_dir(directory.path()).expect("fixed");
    assert_eq!(fixed.rules()[0].name, "b");
    assert_eq!(store.generation(), 2);
}
