# Checks of the shell suites (sourced): one "ok"/"not ok" line per check,
# counted in $ok and $bad.
ok=0 bad=0
check() {  # description, command producing "t" when the check holds
  if [ "$(eval "$2" 2>&1)" = "t" ]; then
    echo "ok - $1"; ok=$((ok + 1))
  else
    echo "not ok - $1"; bad=$((bad + 1))
  fi
}
