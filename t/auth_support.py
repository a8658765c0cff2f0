"""Keys and tokens for the identity tests.

Tokens are minted with Debian's python3-jwt and python3-cryptography, and
by hand with hmac where PyJWT refuses to build a bad token (it will not
sign HS256 with an RSA public key).
"""

import base64
import hashlib
import hmac
import json
import pathlib
import time

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

ISSUER = "https://auth.example.com.br"
AUDIENCE = "neonpro-api"
HS_SECRET = b"demo-secret-for-tests-only-" + b"0123456789abcdef" * 3  # 75 bytes, enough for HS512


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def public_pem(private_key):
    return private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def int_b64url(number):
    return b64url(number.to_bytes((number.bit_length() + 7) // 8, "big"))


class Keys:
    """One key of each kind, and the files nginx reads them from."""

    def __init__(self):
        self.rsa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.rsa_next = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.ec256 = ec.generate_private_key(ec.SECP256R1())
        self.ec384 = ec.generate_private_key(ec.SECP384R1())
        self.ed = ed25519.Ed25519PrivateKey.generate()

    def jwks(self):
        """Return a JWK Set with the EC, Ed25519 and second RSA keys."""

        def ec_jwk(key, kid, crv):
            numbers = key.public_key().public_numbers()
            size = (key.curve.key_size + 7) // 8
            return {
                "kty": "EC", "crv": crv, "kid": kid, "use": "sig",
                "x": b64url(numbers.x.to_bytes(size, "big")),
                "y": b64url(numbers.y.to_bytes(size, "big")),
            }

        rsa_numbers = self.rsa_next.public_key().public_numbers()
        ed_raw = self.ed.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        return {"keys": [
            ec_jwk(self.ec256, "ec256", "P-256"),
            ec_jwk(self.ec384, "ec384", "P-384"),
            {"kty": "OKP", "crv": "Ed25519", "kid": "ed1", "x": b64url(ed_raw)},
            {"kty": "RSA", "kid": "rsa2", "n": int_b64url(rsa_numbers.n),
             "e": int_b64url(rsa_numbers.e)},
            # a key kind nginx does not use, which it skips
            {"kty": "EC", "crv": "secp256k1", "kid": "k1", "x": "AA", "y": "AA"},
        ]}

    def files(self):
        return {
            "keys/hs.secret": HS_SECRET + b"\n",
            "keys/rsa.pem": public_pem(self.rsa),
            "keys/keys.jwks": json.dumps(self.jwks()),
        }

    def signing_key(self, alg):
        """Return (key, kid) that signs alg."""
        return {
            "HS256": (HS_SECRET, "hs1"), "HS384": (HS_SECRET, "hs1"),
            "HS512": (HS_SECRET, "hs1"),
            "RS256": (self.rsa, "rsa1"), "RS384": (self.rsa, "rsa1"),
            "RS512": (self.rsa, "rsa1"), "PS256": (self.rsa, "rsa1"),
            "ES256": (self.ec256, "ec256"), "ES384": (self.ec384, "ec384"),
            "EdDSA": (self.ed, "ed1"),
        }[alg]

    def token(self, alg="RS256", kid=None, headers=None, **claims):
        """Return a token with sane defaults; a claim given as None is left out."""
        now = int(time.time())
        payload = {
            "iss": ISSUER, "aud": AUDIENCE, "sub": "user-17",
            "clinic_id": "clinic-1", "role": "CLINICAL_STAFF",
            "iat": now, "exp": now + 3600,
        }
        payload.update(claims)
        payload = {k: v for k, v in payload.items() if v is not None}
        key, default_kid = self.signing_key(alg)
        fields = {"kid": kid or default_kid}
        fields.update(headers or {})
        return jwt.encode(payload, key, algorithm=alg, headers=fields)


def hand_made(header, payload, secret=None, signature=b""):
    """Build a token without PyJWT, HS256-signed with secret when given."""
    signing_input = (b64url(json.dumps(header).encode()) + "."
                     + b64url(json.dumps(payload).encode()))
    if secret is not None:
        signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return signing_input + "." + b64url(signature)


def claims(**changes):
    now = int(time.time())
    payload = {"iss": ISSUER, "aud": AUDIENCE, "sub": "user-17", "iat": now, "exp": now + 3600}
    payload.update(changes)
    return payload


DEMO_KEY = pathlib.Path(__file__).resolve().parent.parent / "conf.example" / "keys" / "demo-rs256.key"


def demo_token(**changes):
    """Return a token that conf.example accepts, as `make demo-token` prints it."""
    now = int(time.time())
    payload = {
        "iss": "https://demo.supabase.co/auth/v1", "aud": "authenticated",
        "sub": "00000000-0000-0000-0000-000000000011", "role": "authenticated",
        "user_role": "CLINICAL_STAFF", "clinic_id": "clinic-1",
        "iat": now, "exp": now + 3600,
    }
    payload.update(changes)
    return jwt.encode(payload, DEMO_KEY.read_bytes(), algorithm="RS256",
                      headers={"kid": "demo-rs256"})
