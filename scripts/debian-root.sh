# Debian 12 roots that look like Debian's Docker images, for scripts/docker-runtime-check and
# scripts/docker-check (source it; needs root). Nothing here writes outside the roots and
# the cache directory.

# bookworm_mirror: prints the first bookworm mirror of this machine's apt sources (deb822
# or one-line format); fails when there is none.
bookworm_mirror() {
  /usr/bin/python3 - <<'PY'
import glob, re
for path in sorted(glob.glob("/etc/apt/sources.list.d/*.sources")):
    for stanza in re.split(r"\n\s*\n", open(path).read()):
        f = dict(re.findall(r"^(\w[\w-]*):\s*(.*)$", stanza, re.M))
        if "bookworm" in f.get("Suites", "").split() and "deb" in f.get("Types", "").split() \
                and f.get("Enabled", "yes") != "no":
            print(f["URIs"].split()[0]); raise SystemExit
for path in ["/etc/apt/sources.list"] + sorted(glob.glob("/etc/apt/sources.list.d/*.list")):
    try:
        for line in open(path):
            w = re.sub(r"\[.*?\]", "", line).split()
            if len(w) >= 3 and w[0] == "deb" and w[2] == "bookworm":
                print(w[1]); raise SystemExit
    except OSError:
        pass
raise SystemExit(1)
PY
}

# minbase_root CACHE_DIR [--fresh]: prints the path of a `debootstrap --variant=minbase
# bookworm` root (what Debian's Docker images start from) kept in CACHE_DIR/bookworm-minbase;
# made once from bookworm_mirror (again with --fresh). Installs debootstrap if missing.
minbase_root() {
  local cache=$1/bookworm-minbase fresh=${2:-} mirror
  if [ -n "$fresh" ] || [ ! -f "$cache/etc/debian_version" ]; then
    command -v debootstrap >/dev/null ||
      DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends debootstrap >&2
    mirror=$(bookworm_mirror) || { echo "no bookworm source in this machine's apt sources" >&2; return 1; }
    echo "debootstrap --variant=minbase bookworm (from $mirror)" >&2
    rm -rf "$cache.new"
    mkdir -p "$1"
    debootstrap --variant=minbase bookworm "$cache.new" "$mirror" > "$cache.log" 2>&1 ||
      { tail -20 "$cache.log" >&2; echo "debootstrap failed (log: $cache.log)" >&2; return 1; }
    rm -rf "$cache"
    mv "$cache.new" "$cache"
  fi
  echo "$cache"
}

# docker_image_root ROOT: gives ROOT the settings of Debian's Docker images (debuerreotype's
# minimizing config: no service starts during apt-get, apt keeps no caches) and this
# machine's bookworm apt sources (the image has deb.debian.org's bookworm, -updates and
# -security; a machine without direct access names its own mirror or proxy there).
docker_image_root() {
  local root=$1 n=0 f
  printf '#!/bin/sh\nexit 101\n' > "$root/usr/sbin/policy-rc.d"
  chmod 755 "$root/usr/sbin/policy-rc.d"
  cat > "$root/etc/apt/apt.conf.d/docker-clean" <<'CONF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
CONF
  echo 'Acquire::Languages "none";' > "$root/etc/apt/apt.conf.d/docker-no-languages"
  echo 'Acquire::GzipIndexes "true";' > "$root/etc/apt/apt.conf.d/docker-gzip-indexes"
  rm -f "$root/etc/apt/sources.list"
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -e "$f" ] && grep -qw bookworm "$f" || continue
    cp "$f" "$root/etc/apt/sources.list.d/"; n=$((n + 1))
  done
  if [ -f /etc/apt/sources.list ] && grep -q '^deb .* bookworm' /etc/apt/sources.list; then
    grep '^deb ' /etc/apt/sources.list > "$root/etc/apt/sources.list"; n=$((n + 1))
  fi
  [ "$n" -gt 0 ] || { echo "no bookworm apt sources to copy" >&2; return 1; }
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
}

# slim_root ROOT: what makes debian:bookworm-slim slimmer (debuerreotype's slimify): dpkg
# installs no documentation, man pages or locales, and those already there are removed.
slim_root() {
  local root=$1 d
  {
    for d in doc groff info linda lintian/overrides locale man; do
      echo "path-exclude /usr/share/$d/*"
    done
    echo "path-include /usr/share/doc/*/copyright"
    echo "path-include /usr/share/locale/locale.alias"
  } > "$root/etc/dpkg/dpkg.cfg.d/docker"
  find "$root/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
  find "$root/usr/share/locale" -mindepth 1 -not -name locale.alias -not -type d -delete
  rm -rf "$root"/usr/share/groff/* "$root"/usr/share/info/* "$root"/usr/share/linda/* \
    "$root"/usr/share/lintian/overrides/* "$root"/usr/share/man/*
}
