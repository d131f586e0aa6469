"""Builds data/payloads/ from local clones of public payload collections (how the files came).

    python benchmarks/build_payload_corpus.py --patt DIR --fuzzdb DIR [--seclists DIR]
        [--uap-core DIR] [--user-agents-json FILE] [--out data]

Each source keeps its own folder with its licence; each family is one file of payloads, one per
line, deduplicated. Entries that cannot be an attack on their own are left out: shorter than 4
characters, or nothing but letters, digits, blanks and ``._-`` (a word list's plain names).
Template entries (``{cmd}``) are expanded with a few commands. The split into a tuning and a
reporting part is not stored: `wild_corpus.split_of` derives it from each payload.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
from collections.abc import Iterable, Iterator
from pathlib import Path

PLAIN = re.compile(r"[\w .-]*")
COMMANDS = ("id", "whoami", "uname -a", "cat /etc/passwd", "ping -c 10 127.0.0.1", "sleep 5")

PATT = {
    "sqli": ["SQL Injection/Intruder/*"],
    "xss": [
        "XSS Injection/Intruders/IntrudersXSS.txt",
        "XSS Injection/Intruders/JHADDIX_XSS.txt",
        "XSS Injection/Intruders/RSNAKE_XSS.txt",
        "XSS Injection/Intruders/XSS_Polyglots.txt",
        "XSS Injection/Intruders/xss_payloads_quick.txt",
        "XSS Injection/Intruders/xss_alert.txt",
        "XSS Injection/Intruders/xss_alert_identifiable.txt",
        "XSS Injection/Intruders/BRUTELOGIC-XSS-STRINGS.txt",
        "XSS Injection/Intruders/MarioXSSVectors.txt",
        "XSS Injection/Intruders/XSSDetection.txt",
    ],
    "cmdi": ["Command Injection/Intruder/*"],
    "traversal": ["Directory Traversal/Intruder/*"],
    "lfi": [
        "File Inclusion/Intruders/JHADDIX_LFI.txt",
        "File Inclusion/Intruders/Traversal.txt",
        "File Inclusion/Intruders/simple-check.txt",
        "File Inclusion/Intruders/php-filter-iconv.txt",
        "File Inclusion/Intruders/List_Of_File_To_Include.txt",
        "File Inclusion/Intruders/List_Of_File_To_Include_NullByteAdded.txt",
        "File Inclusion/Intruders/dot-slash-PathTraversal_and_LFI_pairing.txt",
        "File Inclusion/Intruders/LFI-FD-check.txt",
        "File Inclusion/Intruders/Linux-files.txt",
        "File Inclusion/Intruders/Windows-files.txt",
    ],
    "xxe": ["XXE Injection/Intruders/*"],
    "ssti": [
        "Server Side Template Injection/Intruder/ssti.fuzz",
        "md:Server Side Template Injection/*.md",
    ],
    "ssrf": [
        "url:Server Side Request Forgery/README.md",
        "url:Server Side Request Forgery/SSRF-Cloud-Instances.md",
    ],
    "crlf": ["CRLF Injection/Files/crlfinjection.txt"],
    "open-redirect": ["Open Redirect/Intruder/*"],
    "nosqli": ["NoSQL Injection/Intruder/*"],
    "ssi": ["Server Side Include Injection/Files/ssi_esi.txt"],
    "probe": ["path:Insecure Management Interface/Intruder/springboot_actuator.txt"],
}
FUZZDB = {
    "sqli": [
        "attack/sql-injection/detect/*.txt",
        "attack/sql-injection/exploit/*.txt",
        "attack/sql-injection/payloads-sql-blind/*.txt",
    ],
    "xss": [
        "attack/xss/XSSPolyglot.txt",
        "attack/xss/xss-other.txt",
        "attack/xss/xss-rsnake.txt",
        "attack/xss/xss-uri.txt",
    ],
    "cmdi": [
        "attack/os-cmd-execution/command-execution-unix.txt",
        "attack/os-cmd-execution/OSCommandInject.Windows.txt",
        "tpl:attack/os-cmd-execution/command-injection-template.txt",
        "attack/os-cmd-execution/source-disc-cmd-exec-traversal.txt",
    ],
    "traversal": ["attack/path-traversal/*.txt"],
    "lfi": ["attack/lfi/JHADDIX_LFI.txt"],
    "rfi": ["rfi:attack/rfi/rfi.txt"],
    "ssi": ["attack/server-side-include/server-side-includes-generic.txt"],
    "nosqli": ["attack/no-sql-injection/mongodb.txt"],
    "crlf": ["attack/http-protocol/crlf-injection.txt"],
    "method": ["word:attack/http-protocol/http-protocol-methods.txt"],
    "probe": ["path:discovery/predictable-filepaths/UnixDotfiles.txt"],
}
SECLISTS = {
    "probe": [
        "path:Discovery/Web-Content/quickhits.txt",
        "path:Discovery/Web-Content/AI/probes.txt",
        "path:Discovery/Web-Content/Common-DB-Backups.txt",
    ],
    "cmdi": ["Fuzzing/command-injection-commix.txt"],
}
LICENCES = {
    "payloadsallthethings": ("LICENSE", "MIT"),
    "fuzzdb": ("_copyright.txt", "BSD-3-Clause / CC-BY-3.0"),
    "seclists": ("LICENSE", "MIT"),
}


def git_files(repo: Path, pattern: str) -> list[str]:
    names = subprocess.run(
        ["git", "-C", str(repo), "ls-tree", "-r", "--name-only", "HEAD"],
        check=True, capture_output=True, text=True,
    ).stdout.splitlines()  # fmt: skip
    regex = re.compile("^" + re.escape(pattern).replace(r"\*", "[^/]*") + "$")
    return [name for name in names if regex.match(name)]


def git_text(repo: Path, name: str) -> str:
    data = subprocess.run(
        ["git", "-C", str(repo), "show", f"HEAD:{name}"], check=True, capture_output=True
    ).stdout
    return data.decode("utf-8", "replace")


def code_lines(markdown: str) -> Iterator[str]:
    """Lines inside fenced code blocks, without shell prompts."""
    inside = False
    for line in markdown.splitlines():
        if line.strip().startswith("```"):
            inside = not inside
            continue
        if inside:
            text = re.sub(r"^\s*(?:\$|>|PS>|#)\s+", "", line).strip()
            if text and not text.startswith("//"):
                yield text


def entries(repo: Path, spec: str) -> Iterator[str]:
    kind, _, pattern = spec.rpartition(":") if ":" in spec[:5] else ("", "", spec)
    for name in git_files(repo, pattern):
        text = git_text(repo, name)
        if kind == "md":
            yield from (line for line in code_lines(text) if re.search(r"[{}$<%#]", line))
        elif kind == "url":
            # URLs of the code blocks only: the prose links to articles, not payloads.
            for line in code_lines(text):
                yield from (
                    m.group() for m in re.finditer(r"\b[a-z][a-z0-9+.-]*://[^\s`'\"<>)]+", line)
                )
        elif kind == "rfi":
            # Paths of scripts with a remote-include parameter: XXpathXX is where the remote
            # file goes; these are whole request targets.
            yield from (
                line.replace("XXpathXX", "http://198.51.100.23/shell.txt?")
                for line in text.splitlines()
                if "XXpathXX" in line
            )
        elif kind == "tpl":
            for line in text.splitlines():
                yield from (line.replace("{cmd}", cmd) for cmd in COMMANDS)
        else:
            yield from text.splitlines()


# Methods every server knows are not probes; TRACE, TRACK, DEBUG and CONNECT are.
ORDINARY_METHODS = frozenset(
    {"GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "PROPFIND", "PROPPATCH",
     "MKCOL", "COPY", "MOVE", "LOCK", "UNLOCK", "SEARCH", "REPORT", "PURGE"}
)  # fmt: skip


JUNK = re.compile(
    r"^(?:#\s|//|<!--\s+[^#\s][^>]*-->$|[\w ()/-]+:$)"  # comments and headings of the lists
    r"|^(?:&#x?0*[0-9a-f]+;?|\\x[0-9a-f]{2}|%[0-9a-f]{2}|\\u[0-9a-f]{4})$",  # one character
    re.IGNORECASE,
)
# Words a site serves as ordinary pages: requested alone they are not probes.
GENERIC_PAGES = frozenset(
    {"/info", "/health", "/metrics", "/sessions", "/prometheus", "/status", "/features",
     "/refresh", "/restart", "/caches", "/css", "/js", "/blog", "/client", "/support", "/inc"}
)  # fmt: skip
PUBLIC_HOST = re.compile(
    r"^[a-z][a-z0-9+.-]*://(?:[^/@\s]*@)?([a-z0-9-]+\.)+[a-z]{2,}(?::\d+)?(?:[/?#]|$)", re.I
)
INTERNAL = re.compile(
    r"metadata|internal|localhost|nip\.io|xip\.io|sslip\.io|localtest|burpcollaborator|169\.254|/latest/",
    re.I,
)
TEMPLATE = re.compile(r"\{\{|\$\{|<%|#\{|\{%|\*\{|@\(|\{\$|#set|<#")


def keep(entry: str, family: str) -> bool:
    if family not in ("method", "probe") and JUNK.search(entry):
        return False
    if family == "ssrf" and PUBLIC_HOST.match(entry) and not INTERNAL.search(entry):
        return False  # a link to a public site, not an internal address
    if family == "open-redirect" and PUBLIC_HOST.match(entry) and "@" not in entry:
        return False  # a plain link elsewhere: only the site's own host could tell
    if family == "ssti" and (not TEMPLATE.search(entry) or "..." in entry or "…" in entry):
        return False
    if family == "method":
        return entry.isalpha() and entry.isupper() and entry not in ORDINARY_METHODS
    if family == "probe":
        # Bare numbered scripts (/946.php) say nothing a real site's pages could not.
        return (
            len(entry) > 1
            and not entry.startswith("#")
            and entry not in GENERIC_PAGES
            and not re.fullmatch(r"/\d+\.\w+", entry)
        )
    return len(entry) >= 4 and PLAIN.fullmatch(entry) is None


def normalise(entry: str, family: str) -> str:
    entry = entry.strip("\r\n").strip()
    if family in ("probe", "rfi") and entry and not entry.startswith("/"):
        entry = "/" + entry
    return entry


def write_family(folder: Path, family: str, items: Iterable[str]) -> int:
    seen = dict.fromkeys(i for i in items if i and "\n" not in i and len(i) <= 4000)
    if not seen:
        return 0
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{family}.txt").write_text("\n".join(seen) + "\n", encoding="utf-8")
    return len(seen)


def build_source(name: str, repo: Path, families: dict[str, list[str]], out: Path) -> None:
    folder = out / "payloads" / name
    licence, _ = LICENCES[name]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "LICENSE").write_text(git_text(repo, licence), encoding="utf-8")
    commit = subprocess.run(
        ["git", "-C", str(repo), "rev-parse", "HEAD"], check=True, capture_output=True, text=True
    ).stdout.strip()
    counts = {}
    for family, specs in families.items():
        items = []
        for spec in specs:
            for entry in entries(repo, spec):
                entry = normalise(entry, family)
                if keep(entry, family):
                    items.append(entry)
        counts[family] = write_family(folder, family, items)
    (folder / "SOURCE.json").write_text(
        json.dumps({"commit": commit, "families": counts}, indent=2) + "\n", encoding="utf-8"
    )
    print(name, commit[:10], counts)


def build_user_agents(uap_core: Path | None, user_agents_json: Path | None, out: Path) -> None:
    folder = out / "benign" / "user-agents"
    folder.mkdir(parents=True, exist_ok=True)
    if user_agents_json is not None:
        data = json.loads(user_agents_json.read_text())
        weights: dict[str, float] = {}
        for item in data:
            weights[item["userAgent"]] = weights.get(item["userAgent"], 0.0) + item["weight"]
        lines = [f"{w:.8f}\t{ua}" for ua, w in sorted(weights.items(), key=lambda kv: -kv[1])]
        (folder / "intoli-user-agents.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
        shutil.copy(user_agents_json.parent.parent / "LICENSE", folder / "LICENSE.intoli")
    if uap_core is not None:
        text = git_text(uap_core, "tests/test_ua.yaml")
        agents = dict.fromkeys(
            m.group(1).replace("\\'", "'").replace("''", "'")
            for m in re.finditer(r"user_agent_string:\s*'((?:[^']|'')*)'", text)
        )
        agents.update(
            dict.fromkeys(
                m.group(1) for m in re.finditer(r'user_agent_string:\s*"((?:[^"\\]|\\.)*)"', text)
            )
        )
        # Agents that name a vulnerability scanner or site copier are what vigil flags by design.
        tools = re.compile(
            r"openvas|whatweb|nikto|sqlmap|acunetix|nessus|webinspect|httrack|w3af|zgrab|masscan|nmap",
            re.I,
        )
        kept = [a for a in agents if a and "\n" not in a and not tools.search(a)]
        (folder / "uap-core-test-agents.txt").write_text("\n".join(kept) + "\n", encoding="utf-8")
        (folder / "LICENSE.uap-core").write_text(git_text(uap_core, "LICENSE"), encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--patt", type=Path, required=True)
    parser.add_argument("--fuzzdb", type=Path, required=True)
    parser.add_argument("--seclists", type=Path, help="a folder with the SecLists files used")
    parser.add_argument("--uap-core", type=Path)
    parser.add_argument("--user-agents-json", type=Path)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "data")
    args = parser.parse_args()
    build_source("payloadsallthethings", args.patt, PATT, args.out)
    build_source("fuzzdb", args.fuzzdb, FUZZDB, args.out)
    if args.seclists is not None:
        build_source("seclists", args.seclists, SECLISTS, args.out)
    build_user_agents(args.uap_core, args.user_agents_json, args.out)


if __name__ == "__main__":
    main()
