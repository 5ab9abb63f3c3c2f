//! Which environment variable names tresor puts into a process (`tresor run`) or a file meant to
//! be sourced (`tresor export --format env`).
//!
//! tresor separates `write` from `read`: a principal that may write a vault may not read its
//! secrets. But entry keys become environment variable names (`db/password` → `DB_PASSWORD`), so
//! without this rule a writer could plant `shellopts=xtrace` and `ps4=$(...)`, `ld_preload`,
//! `bash_env`, `node_options`, `git_config_*`, ... and run its own code inside every process that a
//! reader starts with `tresor run`, with every value the reader resolved in its environment. The
//! `run` commands of comparable tools do not guard this, because there whoever may write a project
//! may also read it; in tresor it would turn `write` into `read`.
//!
//! So names that change how programs load or run are refused unless the caller allows each one by
//! name (`--allow-env NAME`). The rule is a deny-list, matched case-insensitively on the final
//! name (after the key → NAME mapping): entry keys are user data, so an allow-list of "safe" names
//! is not possible. It cannot be complete either; it covers the mechanisms that run code, load code
//! or redirect and unprotect traffic in the programs that workflow tasks commonly start (shells,
//! the dynamic loader, the interpreters and VMs of data platforms, git and other tools that run
//! configured commands, TLS clients). A writer still sets the *values* of the variables the task
//! reads (its database host, say): that is what `write` means.

use std::fmt;

/// How a rule matches a name (compared in ASCII upper case).
enum Pattern {
    Exact(&'static str),
    Prefix(&'static str),
    Suffix(&'static str),
}

use Pattern::{Exact, Prefix, Suffix};

impl Pattern {
    fn matches(&self, upper: &str) -> bool {
        match self {
            Exact(p) => upper == *p,
            Prefix(p) => upper.starts_with(p),
            Suffix(p) => upper.ends_with(p),
        }
    }
}

/// A group of names refused for one reason; the reason is what the error message says.
struct Rule {
    why: &'static str,
    patterns: &'static [Pattern],
}

const RULES: &[Rule] = &[
    // The dynamic loader and the C library read these before `main`: LD_PRELOAD / LD_AUDIT /
    // DYLD_INSERT_LIBRARIES load a library into every program; LD_LIBRARY_PATH and friends pick
    // where libraries come from; GCONV_PATH (iconv modules), LOCPATH and NLSPATH (locale data and
    // message catalogs) make glibc load files from there; GLIBC_TUNABLES is parsed by the loader
    // itself (CVE-2023-4911). LIBPATH and SHLIB_PATH are AIX's and HP-UX's LD_LIBRARY_PATH.
    Rule {
        why: "the dynamic loader or C library loads code or data from it into every program",
        patterns: &[
            Prefix("LD_"),
            Prefix("DYLD_"),
            Suffix("_PRELOAD"),
            Exact("GCONV_PATH"),
            Exact("LOCPATH"),
            Exact("NLSPATH"),
            Exact("GLIBC_TUNABLES"),
            Exact("LIBPATH"),
            Exact("SHLIB_PATH"),
        ],
    },
    // Shells source BASH_ENV / ENV at start-up and ZDOTDIR's rc files; SHELLOPTS / BASHOPTS turn
    // on options such as xtrace, which expands PS4 (and PS0-PS3 and PROMPT_COMMAND run in
    // interactive shells) — a command substitution there runs; BASH_FUNC_* define functions that
    // shadow commands; IFS, CDPATH, GLOBIGNORE change how scripts split words, change directories
    // and expand globs; FPATH autoloads functions (zsh, ksh); BASH_XTRACEFD sends the trace (with
    // expanded values) to another file; BASH_LOADABLES_PATH is where `enable -f` loads builtins.
    Rule {
        why: "shells run it, source it or change how they parse commands",
        patterns: &[
            Exact("BASH_ENV"),
            Exact("ENV"),
            Exact("SHELLOPTS"),
            Exact("BASHOPTS"),
            Exact("PS0"),
            Exact("PS1"),
            Exact("PS2"),
            Exact("PS3"),
            Exact("PS4"),
            Exact("PROMPT_COMMAND"),
            Exact("IFS"),
            Exact("CDPATH"),
            Exact("GLOBIGNORE"),
            Prefix("BASH_FUNC_"),
            Exact("BASH_XTRACEFD"),
            Exact("BASH_LOADABLES_PATH"),
            Exact("ZDOTDIR"),
            Exact("FPATH"),
        ],
    },
    // Where every program is looked up.
    Rule { why: "programs are looked up in it", patterns: &[Exact("PATH")] },
    // Interpreters and VMs load modules, start-up files or agents named here: PYTHONPATH,
    // PYTHONSTARTUP, PYTHONWARNINGS (imports a category's module); PERL5OPT (-M), PERL5LIB,
    // PERL5DB; RUBYOPT (-r); NODE_OPTIONS (--require); JAVA_TOOL_OPTIONS and the launchers'
    // *_OPTS (JAVA_OPTS, MAVEN_OPTS, HADOOP_OPTS, SPARK_SUBMIT_OPTS, ...: -javaagent); LUA_INIT
    // runs a chunk; PHPRC / PHP_INI_SCAN_DIR (auto_prepend_file); R_PROFILE / R_ENVIRON; GOFLAGS
    // (-toolexec) and GOTOOLCHAIN (fetches and runs another toolchain); .NET's startup hooks and
    // profilers; pytest's plugins.
    Rule {
        why: "an interpreter or runtime loads modules, start-up code or agents from it",
        patterns: &[
            Prefix("PYTHON"),
            Prefix("PERL5"),
            Exact("PERLLIB"),
            Exact("RUBYOPT"),
            Exact("RUBYLIB"),
            Exact("GEM_HOME"),
            Exact("GEM_PATH"),
            Exact("NODE_OPTIONS"),
            Exact("NODE_PATH"),
            Exact("JAVA_TOOL_OPTIONS"),
            Exact("_JAVA_OPTIONS"),
            Exact("JDK_JAVA_OPTIONS"),
            Exact("CLASSPATH"),
            Suffix("_OPTIONS"),
            Suffix("_OPTS"),
            Prefix("LUA_"),
            Exact("TCLLIBPATH"),
            Exact("PHPRC"),
            Exact("PHP_INI_SCAN_DIR"),
            Prefix("R_PROFILE"),
            Prefix("R_ENVIRON"),
            Prefix("R_LIBS"),
            Exact("GOFLAGS"),
            Exact("GOROOT"),
            Exact("GOPATH"),
            Exact("GOENV"),
            Exact("GOTOOLCHAIN"),
            Exact("GOPROXY"),
            Exact("DOTNET_STARTUP_HOOKS"),
            Exact("DOTNET_ADDITIONAL_DEPS"),
            Prefix("CORECLR_"),
            Prefix("COR_PROFILER"),
            Exact("COR_ENABLE_PROFILING"),
            Exact("PYTEST_ADDOPTS"),
            Exact("PYTEST_PLUGINS"),
        ],
    },
    // Tools that run a command or read a configuration (which can name commands) from here: git
    // (GIT_SSH_COMMAND, GIT_EXEC_PATH, GIT_CONFIG_COUNT/KEY_n/VALUE_n setting core.pager or
    // core.fsmonitor, ...), less's input preprocessor, pagers, editors, browsers, askpass helpers,
    // OpenSSL's config (engines, providers); HOME and XDG_CONFIG_* relocate every dotfile (.bashrc,
    // .gitconfig, .npmrc, ...); npm's configuration sets the shell its scripts run in; a pip index
    // or kubeconfig / AWS config (exec and credential_process entries) runs code fetched or named
    // there.
    Rule {
        why: "a tool runs the command it names or reads its configuration from there",
        patterns: &[
            Prefix("GIT_"),
            Exact("LESSOPEN"),
            Exact("LESSCLOSE"),
            Exact("PAGER"),
            Exact("MANPAGER"),
            Exact("EDITOR"),
            Exact("VISUAL"),
            Exact("SHELL"),
            Exact("BROWSER"),
            Exact("SSH_ASKPASS"),
            Exact("SUDO_ASKPASS"),
            Exact("OPENSSL_CONF"),
            Exact("OPENSSL_ENGINES"),
            Exact("OPENSSL_MODULES"),
            Exact("HOME"),
            Exact("XDG_CONFIG_HOME"),
            Exact("XDG_CONFIG_DIRS"),
            Prefix("NPM_CONFIG_"),
            Exact("PIP_INDEX_URL"),
            Exact("PIP_EXTRA_INDEX_URL"),
            Exact("PIP_CONFIG_FILE"),
            Exact("KUBECONFIG"),
            Exact("AWS_CONFIG_FILE"),
            Exact("DOCKER_CONFIG"),
        ],
    },
    // tresor's own settings: a planted TRESOR_ADDR would send the reader's token (and a nested
    // `tresor` call's requests) to another server; TRESOR_LOCAL, TRESOR_HOME or TRESOR_ROOT_KEY
    // would switch a nested call to another store.
    Rule { why: "it configures tresor itself (a nested tresor call would use it)", patterns: &[Prefix("TRESOR_")] },
    // Traffic: proxies see (and for plain HTTP change) every request; CA bundles decide whom TLS
    // trusts; NODE_TLS_REJECT_UNAUTHORIZED turns verification off; SSLKEYLOGFILE makes TLS
    // libraries write their session keys to a file, so recorded traffic can be decrypted;
    // HOSTALIASES / RES_OPTIONS / LOCALDOMAIN change name resolution; DOCKER_HOST sends docker
    // commands (and registry credentials) to another daemon.
    Rule {
        why: "it redirects network traffic or changes whom TLS trusts",
        patterns: &[
            Suffix("_PROXY"),
            Exact("SSL_CERT_FILE"),
            Exact("SSL_CERT_DIR"),
            Exact("CURL_CA_BUNDLE"),
            Exact("REQUESTS_CA_BUNDLE"),
            Exact("NODE_EXTRA_CA_CERTS"),
            Exact("NODE_TLS_REJECT_UNAUTHORIZED"),
            Exact("GRPC_DEFAULT_SSL_ROOTS_FILE_PATH"),
            Exact("SSLKEYLOGFILE"),
            Exact("HOSTALIASES"),
            Exact("RES_OPTIONS"),
            Exact("LOCALDOMAIN"),
            Exact("DOCKER_HOST"),
            Exact("DOCKER_CERT_PATH"),
            Exact("DOCKER_TLS_VERIFY"),
        ],
    },
];

/// Why a name is not put into an environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// It cannot be an environment variable at all (empty, or holding `=` or NUL, which `execve`
    /// and shells cannot carry); no option allows it.
    Malformed(&'static str),
    /// It changes how programs load or run; `--allow-env NAME` allows it.
    Dangerous(&'static str),
}

impl Refusal {
    pub fn why(&self) -> &'static str {
        match self {
            Refusal::Malformed(why) | Refusal::Dangerous(why) => why,
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.why())
    }
}

/// Whether `name` may be set in a process's environment without being allowed by name.
pub fn check(name: &str) -> Result<(), Refusal> {
    if name.is_empty() {
        return Err(Refusal::Malformed("an environment variable needs a name"));
    }
    if name.contains('=') {
        return Err(Refusal::Malformed("'=' ends an environment variable's name, so it cannot be part of one"));
    }
    if name.contains('\0') {
        return Err(Refusal::Malformed("a NUL byte cannot be part of an environment variable"));
    }
    let upper = name.to_ascii_uppercase();
    match RULES.iter().find(|rule| rule.patterns.iter().any(|p| p.matches(&upper))) {
        Some(rule) => Err(Refusal::Dangerous(rule.why)),
        None => Ok(()),
    }
}

/// Whether a shell accepts `name` in `NAME=value` (POSIX: `[A-Za-z_][A-Za-z0-9_]*`).
pub fn is_shell_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The names given with `--allow-env`: each one exact, compared as written.
pub struct Allowed<'a>(&'a [String]);

impl<'a> Allowed<'a> {
    /// Refuses what is not a name (`--allow-env 'LD_*'` would suggest a pattern that is not one).
    pub fn new(names: &'a [String]) -> Result<Self, String> {
        if let Some(bad) =
            names.iter().find(|n| n.is_empty() || !n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.'))
        {
            return Err(format!(
                "--allow-env {bad:?} is not an environment variable name: give each name exactly as tresor reports \
                 it (letters, digits, '_'), repeating --allow-env for each; patterns are not accepted"
            ));
        }
        Ok(Self(names))
    }

    /// [`check`], except that a dangerous name given with `--allow-env` passes.
    pub fn check(&self, name: &str) -> Result<(), Refusal> {
        match check(name) {
            Err(Refusal::Dangerous(_)) if self.0.iter().any(|a| a == name) => Ok(()),
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_issues_minimum_is_refused_in_any_case() {
        for name in [
            "PATH",
            "LD_PRELOAD",
            "LD_LIBRARY_PATH",
            "LD_AUDIT",
            "DYLD_INSERT_LIBRARIES",
            "BASH_ENV",
            "ENV",
            "SHELLOPTS",
            "BASHOPTS",
            "PS4",
            "PROMPT_COMMAND",
            "IFS",
            "PYTHONPATH",
            "PYTHONSTARTUP",
            "PERL5OPT",
            "PERL5LIB",
            "RUBYOPT",
            "NODE_OPTIONS",
            "JAVA_TOOL_OPTIONS",
            "GIT_SSH_COMMAND",
            "GIT_CONFIG_COUNT",
            "GIT_CONFIG_KEY_0",
            "JEMALLOC_PRELOAD",
        ] {
            assert!(matches!(check(name), Err(Refusal::Dangerous(_))), "{name}");
            assert!(matches!(check(&name.to_ascii_lowercase()), Err(Refusal::Dangerous(_))), "{name} lower case");
        }
    }

    #[test]
    fn the_wider_list_is_refused() {
        for name in [
            "GCONV_PATH",
            "LOCPATH",
            "GLIBC_TUNABLES",
            "CDPATH",
            "GLOBIGNORE",
            "BASH_FUNC_ls%%",
            "PS1",
            "ZDOTDIR",
            "PERLLIB",
            "RUBYLIB",
            "NODE_PATH",
            "_JAVA_OPTIONS",
            "JDK_JAVA_OPTIONS",
            "CLASSPATH",
            "JAVA_OPTS",
            "HADOOP_OPTS",
            "LUA_INIT",
            "LUA_PATH",
            "TCLLIBPATH",
            "PHPRC",
            "LESSOPEN",
            "LESSCLOSE",
            "PAGER",
            "EDITOR",
            "VISUAL",
            "OPENSSL_CONF",
            "HOME",
            "XDG_CONFIG_HOME",
            "npm_config_script_shell",
            "TRESOR_ADDR",
            "TRESOR_TOKEN",
            "HTTP_PROXY",
            "https_proxy",
            "ALL_PROXY",
            "NO_PROXY",
            "SSL_CERT_FILE",
            "SSL_CERT_DIR",
            "CURL_CA_BUNDLE",
            "REQUESTS_CA_BUNDLE",
            "NODE_EXTRA_CA_CERTS",
            "SSLKEYLOGFILE",
        ] {
            assert!(matches!(check(name), Err(Refusal::Dangerous(_))), "{name}");
        }
    }

    #[test]
    fn ordinary_names_pass() {
        for name in [
            "DB_PASSWORD",
            "PGPASSWORD",
            "PGHOST",
            "API_TOKEN",
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "STRIPE_SECRET_KEY",
            "DATABASE_URL",
            "_1ST",
            "LDAP_PASSWORD",
            "PATH_PREFIX",
            "MY_PATH",
            "ENVIRONMENT",
            "HOMEPAGE_URL",
            "SHELL_COLOR",
            "GITHUB_TOKEN",
            "PROXY_USER",
            "pg.user",
        ] {
            assert_eq!(check(name), Ok(()), "{name}");
        }
    }

    #[test]
    fn names_that_cannot_be_carried_are_malformed_and_cannot_be_allowed() {
        let allowed = vec!["A=B".to_owned()];
        for name in ["", "A=B", "A\0B", "="] {
            assert!(matches!(check(name), Err(Refusal::Malformed(_))), "{name:?}");
        }
        assert!(Allowed::new(&allowed).is_err(), "--allow-env takes names only");
    }

    #[test]
    fn allow_env_is_exact() {
        let names = vec!["PS4".to_owned(), "SHELLOPTS".to_owned()];
        let allowed = Allowed::new(&names).unwrap();
        assert_eq!(allowed.check("PS4"), Ok(()));
        assert_eq!(allowed.check("SHELLOPTS"), Ok(()));
        assert!(allowed.check("ps4").is_err(), "another name, though it folds to the same");
        assert!(allowed.check("LD_PRELOAD").is_err());
        for pattern in ["LD_*", "", "A B", "X=1"] {
            assert!(Allowed::new(&[pattern.to_owned()]).is_err(), "{pattern:?}");
        }
    }

    #[test]
    fn shell_names() {
        for ok in ["a", "_", "A_1", "_1st", "planted"] {
            assert!(is_shell_name(ok), "{ok}");
        }
        for bad in ["", "1a", "db/password", "pg.user", "a-b", "a b", "é"] {
            assert!(!is_shell_name(bad), "{bad}");
        }
    }

    proptest! {
        /// Every name an entry key becomes is either accepted or refused as dangerous, with a
        /// reason; never malformed; and the verdict does not depend on case.
        #[test]
        fn every_key_becomes_an_accepted_or_explained_name(key in "[A-Za-z0-9_.-]{1,20}(/[A-Za-z0-9_.-]{1,20}){0,3}") {
            let name = crate::exec::env_var_name(&key);
            prop_assert!(is_shell_name(&name), "{name}");
            match check(&name) {
                Ok(()) => {}
                Err(Refusal::Dangerous(why)) => prop_assert!(!why.is_empty()),
                Err(Refusal::Malformed(why)) => prop_assert!(false, "{name} malformed: {why}"),
            }
            prop_assert_eq!(check(&name), check(&name.to_ascii_lowercase()));
        }

        /// Allowing a name by `--allow-env` passes exactly that name and changes nothing else.
        #[test]
        fn allowing_passes_only_the_named(name in "[A-Za-z_][A-Za-z0-9_]{0,24}", other in "[A-Za-z_][A-Za-z0-9_]{0,24}") {
            let names = vec![name.clone()];
            let allowed = Allowed::new(&names).unwrap();
            prop_assert_eq!(allowed.check(&name), Ok(()));
            if other != name {
                prop_assert_eq!(allowed.check(&other), check(&other));
            }
        }

        /// Any name holding `=` or NUL is malformed, allowed or not.
        #[test]
        fn separators_are_always_malformed(a in "[A-Za-z_]{0,8}", b in "[A-Za-z_]{0,8}", sep in prop::sample::select(vec!['=', '\0'])) {
            let name = format!("{a}{sep}{b}");
            prop_assert!(matches!(check(&name), Err(Refusal::Malformed(_))));
        }
    }
}
