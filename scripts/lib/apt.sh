# Sourced by the install scripts: apt_install WHO FORCE PACKAGE... installs
# Debian packages with apt-get (as root, or through sudo), noninteractive,
# reinstalling them when FORCE is 1. WHO names the calling script in errors.
apt_install() {
  local who=$1 force=$2
  shift 2
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "$who: apt-get not found; install $* with this system's package manager" >&2
    exit 1
  fi
  local sudo=""
  if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null 2>&1 || { echo "$who: needs root or sudo to run apt-get" >&2; exit 1; }
    sudo=sudo
  fi
  local reinstall=""
  if [ "$force" = 1 ]; then reinstall=--reinstall; fi
  # env, not export: sudo drops the caller's environment.
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $reinstall "$@" >/dev/null
}
