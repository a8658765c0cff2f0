"""Print a demo token for `make run`: a CLINICAL_STAFF user of clinic-1.

The token is signed with conf.example/keys/demo-rs256.key, a demo key that
is in the repository: it is for trying the demo with curl and the chat page,
never for a deployment. Options: --role, --user, --clinic, --hours.
"""

import argparse
import pathlib
import time
import uuid

import jwt

KEY = pathlib.Path(__file__).resolve().parent.parent / "conf.example" / "keys" / "demo-rs256.key"
ISSUER = "https://demo.supabase.co/auth/v1"
AUDIENCE = "authenticated"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--role", default="CLINICAL_STAFF")
    parser.add_argument("--user", default=str(uuid.UUID(int=17)))
    parser.add_argument("--clinic", default="clinic-1")
    parser.add_argument("--hours", type=float, default=12)
    args = parser.parse_args()

    now = int(time.time())
    claims = {
        "iss": ISSUER, "aud": AUDIENCE, "sub": args.user, "role": "authenticated",
        "user_role": args.role, "clinic_id": args.clinic,
        "iat": now, "exp": now + int(args.hours * 3600),
    }
    print(jwt.encode(claims, KEY.read_bytes(), algorithm="RS256", headers={"kid": "demo-rs256"}))


if __name__ == "__main__":
    main()
