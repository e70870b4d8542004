# Sourced by hw-tests/run. Downloads arm64 .debs with the host's apt sources but a private apt
# state (its own package lists, an empty dpkg status, APT::Architecture=arm64), so the host's
# dpkg never gains a foreign architecture and nothing is installed on the host.
#
#   apt_arm64 STATE_DIR DEST_DIR PACKAGE[=VERSION]...
# Lists are refreshed when they are missing or older than a day, and once more when a
# download fails (the archive moves on: yesterday's lists may name a removed version).
apt_arm64() {
    local state=$1 dest=$2
    shift 2
    mkdir -p "$state/lists/partial" "$state/cache/archives/partial" "$dest"
    [[ -f $state/status ]] || : > "$state/status"
    local opts=(-o APT::Architecture=arm64 -o APT::Architectures::=arm64
                -o Dir::State="$state" -o Dir::State::Lists="$state/lists"
                -o Dir::State::status="$state/status" -o Dir::Cache="$state/cache"
                -o APT::Sandbox::User=root -o Debug::NoLocking=1)
    local fresh
    fresh=$(find "$state/lists" -maxdepth 1 -name '*_Packages*' -mmin -1440 2>/dev/null | head -n 1)
    if [[ -z $fresh ]]; then
        apt-get "${opts[@]}" update -qq >/dev/null 2>&1 || return 1
    fi
    if ! (cd "$dest" && apt-get "${opts[@]}" download -qq "$@" 2>/dev/null); then
        apt-get "${opts[@]}" update -qq >/dev/null 2>&1 || return 1
        (cd "$dest" && apt-get "${opts[@]}" download -qq "$@") || return 1
    fi
}

# The versions apt offers for arm64 of PACKAGE (one per line, newest first).
apt_arm64_versions() {
    local state=$1 pkg=$2
    apt-cache -o APT::Architecture=arm64 -o APT::Architectures::=arm64 \
        -o Dir::State="$state" -o Dir::State::Lists="$state/lists" \
        -o Dir::State::status="$state/status" -o Dir::Cache="$state/cache" \
        madison "$pkg" 2>/dev/null | awk -F'|' '{gsub(/ /, "", $2); print $2}'
}
