//! `samconfig.toml`, the file `sam deploy` reads its answers from: the stack name, the region and
//! the template's parameter overrides. Read and written in place with `toml_edit`, so whatever else
//! a user keeps in the file (tags, an S3 prefix, other environments, comments) survives `configure`.
//!
//! `parameter_overrides` is written the way `sam deploy --guided` writes it, one string of
//! `Name="value"` pairs, and read the way the SAM CLI reads it (`CfnParameterOverridesType`):
//! inside double quotes `\"` is a quote; SAM has no escape for a backslash itself, so a value that
//! holds one is refused rather than written wrong.

use std::collections::BTreeMap;
use std::path::Path;
use toml_edit::{DocumentMut, Item, Table, value};

/// What `configure` reads from and writes to the file.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Answers {
    pub stack_name: Option<String>,
    pub region: Option<String>,
    /// The template parameters set away from their defaults.
    pub parameters: BTreeMap<String, String>,
}

/// The file as it is, kept whole for writing back.
pub struct SamConfig {
    document: DocumentMut,
}

/// The environment `configure` reads and writes (`sam deploy`'s default `--config-env`).
const ENVIRONMENT: &str = "default";

impl SamConfig {
    /// The file at `path`, or an empty one when there is none yet.
    pub fn load(path: &Path) -> Result<Self, String> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
        };
        let document = text.parse::<DocumentMut>().map_err(|e| {
            format!(
                "{} is not TOML: {}",
                path.display(),
                one_line(&e.to_string())
            )
        })?;
        Ok(Self { document })
    }

    /// The answers the file holds. A command's own section wins over `global`, as with SAM.
    pub fn answers(&self) -> Result<Answers, String> {
        let string = |command: &str, key: &str| {
            self.document
                .get(ENVIRONMENT)
                .and_then(|e| e.get(command))
                .and_then(|c| c.get("parameters"))
                .and_then(|p| p.get(key))
                .and_then(Item::as_str)
                .map(str::to_owned)
        };
        let either = |key: &str| string("deploy", key).or_else(|| string("global", key));
        // As SAM reads it: deploy's whole string, else global's (they are not merged).
        let item = |command: &str| {
            self.document
                .get(ENVIRONMENT)
                .and_then(|e| e.get(command))
                .and_then(|c| c.get("parameters"))
                .and_then(|p| p.get("parameter_overrides"))
        };
        let overrides = item("deploy").or_else(|| item("global"));
        let parameters = match overrides {
            None => BTreeMap::new(),
            Some(item) => {
                if let Some(text) = item.as_str() {
                    parse_overrides(text)?
                } else if let Some(list) = item.as_array() {
                    let mut all = BTreeMap::new();
                    for entry in list {
                        let text = entry.as_str().ok_or(
                            "parameter_overrides holds a list with something other than strings",
                        )?;
                        all.extend(parse_overrides(text)?);
                    }
                    all
                } else {
                    return Err(
                        "parameter_overrides is neither a string nor a list of strings".into(),
                    );
                }
            }
        };
        Ok(Answers {
            stack_name: either("stack_name"),
            region: either("region"),
            parameters,
        })
    }

    /// Puts the answers in; every other setting of the file stays as it was.
    pub fn set(&mut self, answers: &Answers) -> Result<(), String> {
        let doc = self.document.as_table_mut();
        if !doc.contains_key("version") {
            // SAM's own version of the file's format.
            doc.insert("version", value(0.1));
        }
        let overrides = write_overrides(&answers.parameters)?;
        // Stack name and region go where the file has them (`sam deploy --guided` writes them in
        // deploy's section, where they win), else in global's, which every command reads.
        for (key, answer) in [
            ("stack_name", &answers.stack_name),
            ("region", &answers.region),
        ] {
            let Some(answer) = answer else { continue };
            let in_deploy = section(doc, "deploy")?.contains_key(key);
            let table = section(doc, if in_deploy { "deploy" } else { "global" })?;
            put(table, key, value(answer.as_str()));
        }
        // What SAM's deploy reads: its own section over global's, key by key.
        let global = section(doc, "global")?.clone();
        let deploy = section(doc, "deploy")?;
        let read = |key: &str| deploy.get(key).or_else(|| global.get(key)).cloned();
        let (capabilities, bucket, confirm) = (
            read("capabilities"),
            read("s3_bucket"),
            read("confirm_changeset"),
        );
        // Global's overrides were the ones read (deploy had none): they are merged into deploy's
        // now, which would hide them from deploy anyway; build and sync keep reading them then.
        let merged_global = !deploy.contains_key("parameter_overrides");
        // The function's role is created by the stack: an IAM capability. One the file already
        // grants (named IAM; auto-expand beside it), as a string or a list, stays.
        let grants = |item: &Item| {
            let has = |c: &str| {
                c.split_whitespace()
                    .any(|c| c == "CAPABILITY_IAM" || c == "CAPABILITY_NAMED_IAM")
            };
            item.as_str().is_some_and(has)
                || item
                    .as_array()
                    .is_some_and(|list| list.iter().filter_map(|v| v.as_str()).any(has))
        };
        if !capabilities.is_some_and(|item| grants(&item)) {
            put(deploy, "capabilities", value("CAPABILITY_IAM"));
        }
        // SAM refuses resolve_s3 beside a bucket of the user's own.
        if bucket.is_none() {
            put(deploy, "resolve_s3", value(true));
        }
        if confirm.is_none() {
            // Shows the change set and asks before deploying, as --guided does by default.
            deploy.insert("confirm_changeset", value(true));
        }
        match overrides {
            Some(text) => put(deploy, "parameter_overrides", value(text)),
            None => {
                deploy.remove("parameter_overrides");
            }
        };
        if merged_global {
            section(doc, "global")?.remove("parameter_overrides");
        }
        Ok(())
    }

    /// Writes the file whole, through a temporary file beside it: an interrupted write leaves the
    /// old file, never half of one.
    pub fn save(&self, path: &Path) -> Result<(), String> {
        let fail = |e: std::io::Error| format!("cannot write {}: {e}", path.display());
        // A link is followed: the file it points at is the one rewritten.
        let path = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_owned());
        let temporary = path.with_extension("toml.tmp");
        std::fs::write(&temporary, self.document.to_string()).map_err(fail)?;
        if let Ok(old) = std::fs::metadata(&path) {
            // The file's permissions stay as the user set them.
            std::fs::set_permissions(&temporary, old.permissions()).map_err(fail)?;
        }
        std::fs::rename(&temporary, &path).map_err(fail)
    }
}

/// Sets a key, keeping the comments around the old value (toml_edit keeps them on the key; the
/// value's own, an end-of-line comment, is carried over).
fn put(table: &mut Table, key: &str, mut new: Item) {
    match table.get_mut(key) {
        // Set in place: the key, and the comment lines above it, stay.
        Some(old) => {
            if let (Some(before), Some(value)) = (old.as_value(), new.as_value_mut()) {
                *value.decor_mut() = before.decor().clone();
            }
            *old = new;
        }
        None => {
            table.insert(key, new);
        }
    }
}

/// `[default.<command>.parameters]`, made when missing.
fn section<'a>(doc: &'a mut Table, command: &str) -> Result<&'a mut Table, String> {
    let mut table = doc;
    for key in [ENVIRONMENT, command, "parameters"] {
        table = table
            .entry(key)
            .or_insert_with(|| {
                let mut t = Table::new();
                t.set_implicit(true);
                Item::Table(t)
            })
            .as_table_mut()
            .ok_or_else(|| format!("samconfig.toml's {key} is not a table"))?;
    }
    Ok(table)
}

/// `Name="value" ...` as `sam deploy --guided` writes it; `None` when nothing is overridden.
pub fn write_overrides(parameters: &BTreeMap<String, String>) -> Result<Option<String>, String> {
    let mut pairs = Vec::new();
    for (name, text) in parameters {
        if text.contains('\\') {
            return Err(format!(
                "{name}'s value holds a backslash, which samconfig.toml cannot carry to SAM"
            ));
        }
        // SAM looks for its other form, ParameterKey=...,ParameterValue=..., anywhere in the
        // string first, and reads only that when it finds it.
        if text.contains("ParameterKey=") {
            return Err(format!(
                "{name}'s value holds \"ParameterKey=\", which SAM would read as parameters of their own"
            ));
        }
        pairs.push(format!("{name}=\"{}\"", text.replace('"', "\\\"")));
    }
    Ok((!pairs.is_empty()).then(|| pairs.join(" ")))
}

/// SAM's reading of `Name=value Name="quoted value" Name='quoted'`: quotes group, `\` escapes the
/// next character inside them, and `\ `, `\"`, `\'` become the character itself.
pub fn parse_overrides(text: &str) -> Result<BTreeMap<String, String>, String> {
    let bad = |why: &str| format!("cannot read parameter_overrides ({why}); fix or remove it");
    let mut parameters = BTreeMap::new();
    let mut chars = text.trim().chars().peekable();
    loop {
        while chars.next_if(|c| *c == ' ').is_some() {}
        if chars.peek().is_none() {
            break;
        }
        let name: String =
            std::iter::from_fn(|| chars.next_if(|c| c.is_ascii_alphanumeric())).collect();
        if name.is_empty() || chars.next() != Some('=') {
            return Err(bad("expected Name=value"));
        }
        if name == "ParameterKey" {
            return Err(bad(
                "write Name=value, not ParameterKey=...,ParameterValue=...",
            ));
        }
        let mut raw = String::new();
        match chars.peek().copied() {
            Some(quote @ ('"' | '\'')) => {
                chars.next();
                loop {
                    match chars.next() {
                        None => return Err(bad(&format!("{name}'s value has no closing quote"))),
                        Some('\\') => {
                            raw.push('\\');
                            raw.extend(chars.next());
                        }
                        Some(c) if c == quote => break,
                        Some(c) => raw.push(c),
                    }
                }
                if chars.peek().is_some_and(|c| *c != ' ') {
                    return Err(bad(&format!("{name}'s quoted value runs on")));
                }
            }
            _ => {
                while let Some(c) = chars.next_if(|c| *c != ' ') {
                    if c == '"' || c == '\'' {
                        return Err(bad(&format!("{name}'s value has a stray quote")));
                    }
                    raw.push(c);
                    if c == '\\' {
                        raw.extend(chars.next());
                    }
                }
            }
        }
        let unescaped = raw
            .replace("\\ ", " ")
            .replace("\\\"", "\"")
            .replace("\\'", "'");
        parameters.insert(name, unescaped);
    }
    Ok(parameters)
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn overrides_read_back_what_is_written() {
        let parameters = map(&[
            ("SmsProvider", "twilio,sns"),
            ("SenderByCountry", r#"{"FR": "Acme", "US": "+14155550100"}"#),
            ("AlarmEmail", "ops@example.com"),
            ("SnsSenderId", ""),
        ]);
        let text = write_overrides(&parameters).unwrap().unwrap();
        assert_eq!(
            text,
            r#"AlarmEmail="ops@example.com" SenderByCountry="{\"FR\": \"Acme\", \"US\": \"+14155550100\"}" SmsProvider="twilio,sns" SnsSenderId="""#
        );
        assert_eq!(parse_overrides(&text).unwrap(), parameters);
    }

    #[test]
    fn overrides_read_as_sam_reads_them() {
        assert_eq!(
            parse_overrides(r#"  A=plain B="two words" C='single' D=esc\ aped E="q\"uote"  "#)
                .unwrap(),
            map(&[
                ("A", "plain"),
                ("B", "two words"),
                ("C", "single"),
                ("D", "esc aped"),
                ("E", "q\"uote"),
            ])
        );
        assert_eq!(parse_overrides("").unwrap(), BTreeMap::new());
        for bad in [
            "A",
            "=x",
            "A=\"open",
            "A=\"x\"y",
            "A=b\"c",
            "ParameterKey=A,ParameterValue=b",
        ] {
            assert!(parse_overrides(bad).is_err(), "{bad} was read");
        }
    }

    #[test]
    fn a_backslash_is_refused_not_written_wrong() {
        let err = write_overrides(&map(&[("SenderByCountry", r#"{"FR":"a\"b"}"#)])).unwrap_err();
        assert!(
            err.contains("SenderByCountry") && err.contains("backslash"),
            "{err}"
        );
        assert_eq!(write_overrides(&BTreeMap::new()).unwrap(), None);
    }

    #[test]
    fn a_second_run_keeps_what_it_does_not_own() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("samconfig.toml");
        std::fs::write(
            &path,
            "version = 0.1\n# ours\n[default.deploy.parameters]\n# the shared account\nstack_name = \"old\" # old name\nregion = \"us-west-2\"\n\
             s3_prefix = \"kept\"\nconfirm_changeset = false\n# reviewed by ops\nparameter_overrides = \"SmsProvider=\\\"sns\\\" LogLevel=\\\"DEBUG\\\"\" # keep DEBUG\n\
             [prod.deploy.parameters]\nstack_name = \"prod\"\n",
        )
        .unwrap();
        let mut config = SamConfig::load(&path).unwrap();
        let before = config.answers().unwrap();
        assert_eq!(before.stack_name.as_deref(), Some("old"));
        assert_eq!(before.region.as_deref(), Some("us-west-2"));
        assert_eq!(
            before.parameters,
            map(&[("SmsProvider", "sns"), ("LogLevel", "DEBUG")])
        );
        let mut answers = before.clone();
        answers.stack_name = Some("new".into());
        answers
            .parameters
            .insert("SmsProvider".into(), "vonage,sns".into());
        config.set(&answers).unwrap();
        config.save(&path).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        for kept in [
            "# ours",
            "s3_prefix = \"kept\"",
            "confirm_changeset = false",
            "[prod.deploy.parameters]",
            "# the shared account\nstack_name = \"new\" # old name",
            "# reviewed by ops\nparameter_overrides",
            "# keep DEBUG",
        ] {
            assert!(text.contains(kept), "{kept} lost:\n{text}");
        }
        let after = SamConfig::load(&path).unwrap().answers().unwrap();
        assert_eq!(after, answers);
        assert!(text.contains("capabilities = \"CAPABILITY_IAM\""), "{text}");
        assert!(!dir.path().join("samconfig.toml.tmp").exists());
    }

    #[test]
    fn what_sam_would_read_otherwise_is_not_lost_or_written() {
        // SAM reads global's overrides when deploy has none; configure merges them into deploy.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("samconfig.toml");
        std::fs::write(
            &path,
            "version = 0.1\n[default.global.parameters]\nparameter_overrides = \"SmsProvider=twilio TwilioFrom=+14155550100\"\n\
             [default.deploy.parameters]\ns3_bucket = \"my-artifacts\"\ncapabilities = \"CAPABILITY_IAM CAPABILITY_AUTO_EXPAND\"\n",
        )
        .unwrap();
        let mut config = SamConfig::load(&path).unwrap();
        let mut answers = config.answers().unwrap();
        assert_eq!(answers.parameters["SmsProvider"], "twilio");
        answers
            .parameters
            .insert("SmsProvider".into(), "sns".into());
        config.set(&answers).unwrap();
        config.save(&path).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.matches("parameter_overrides").count(), 1, "{text}");
        assert!(text.contains("CAPABILITY_AUTO_EXPAND"), "{text}");
        // SAM refuses resolve_s3 beside a bucket.
        assert!(!text.contains("resolve_s3"), "{text}");
        assert_eq!(SamConfig::load(&path).unwrap().answers().unwrap(), answers);

        // Global's s3_bucket and capabilities list count; global's overrides stay when deploy
        // has its own (sam build reads them).
        std::fs::write(
            &path,
            "version = 0.1\n[default.global.parameters]\ns3_bucket = \"mine\"\nconfirm_changeset = false\n\
             capabilities = [\"CAPABILITY_NAMED_IAM\", \"CAPABILITY_AUTO_EXPAND\"]\nparameter_overrides = \"LogLevel=DEBUG\"\n\
             [default.deploy.parameters]\nparameter_overrides = \"SmsProvider=sns\"\n",
        )
        .unwrap();
        let mut config = SamConfig::load(&path).unwrap();
        let answers = config.answers().unwrap();
        config.set(&answers).unwrap();
        config.save(&path).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        for absent in ["resolve_s3", "CAPABILITY_IAM\"", "confirm_changeset = true"] {
            assert!(!text.contains(absent), "{absent}:\n{text}");
        }
        assert!(
            text.contains("parameter_overrides = \"LogLevel=DEBUG\""),
            "{text}"
        );

        let injected = map(&[(
            "SenderByCountry",
            r#"{"x":"ParameterKey=SmsProvider,ParameterValue=twilio"}"#,
        )]);
        assert!(
            write_overrides(&injected)
                .unwrap_err()
                .contains("ParameterKey=")
        );
    }

    #[test]
    fn a_file_that_is_not_toml_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("samconfig.toml");
        std::fs::write(&path, "version = [\n").unwrap();
        let err = SamConfig::load(&path).err().unwrap();
        assert!(err.contains("samconfig.toml is not TOML"), "{err}");
        assert!(!err.contains('\n'));
    }
}
