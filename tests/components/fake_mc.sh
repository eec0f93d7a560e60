#!/bin/sh
# A stand-in for MinIO's `mc` that keeps state in $FAKE_MC_STATE and logs each call,
# so the setup script's logic (waiting, idempotency, order) is tested without MinIO.
state="$FAKE_MC_STATE"
echo "$*" >> "$state/calls"
case "$1 $2 $3" in
  "ready root"*)
    count=$(cat "$state/ready_attempts" 2>/dev/null || echo 0)
    echo $((count + 1)) > "$state/ready_attempts"
    [ "$((count + 1))" -ge "${FAKE_MC_READY_AFTER:-1}" ] ;;
  "mb --ignore-existing"*) touch "$state/bucket" ;;
  "version enable"*) [ -e "$state/bucket" ] && touch "$state/versioning" ;;
  "anonymous set none") [ -e "$state/bucket" ] ;;
  "admin policy create") cp "$6" "$state/policy-$5.json" ;;
  "admin user add")
    # mc (cmd/admin-user-add.go, fetchUserKeys): keys not given as arguments are read from stdin, one per line.
    if [ -n "${5:-}" ]; then access="$5"; secret="$6"; else read -r access; read -r secret; fi
    echo "$secret" > "$state/secret-$access"; echo "$access" >> "$state/users" ;;
  "admin policy attach")
    if [ -e "$state/attached-$7" ]; then echo "mc: <ERROR> policy change is already in effect" >&2; exit 1; fi
    echo "$5" > "$state/attached-$7" ;;
  "admin policy entities") echo "User: $6"; echo "  Policies: $(cat "$state/attached-$6")" ;;
  "ilm import root/"*) cat > "$state/lifecycle.json" ;;
  *) echo "fake mc: unexpected call: $*" >&2; exit 2 ;;
esac
