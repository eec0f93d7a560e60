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
  "admin user add") echo "$6" > "$state/secret-$5"; echo "$5" >> "$state/users" ;;
  "admin policy attach")
    if [ -e "$state/attached-$7" ]; then echo "mc: <ERROR> policy change is already in effect" >&2; exit 1; fi
    echo "$5" > "$state/attached-$7" ;;
  "admin policy entities") echo "User: $6"; echo "  Policies: $(cat "$state/attached-$6")" ;;
  "ilm import root/"*) cat > "$state/lifecycle.json" ;;
  *) echo "fake mc: unexpected call: $*" >&2; exit 2 ;;
esac
