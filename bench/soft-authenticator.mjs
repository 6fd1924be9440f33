// A software passkey for benchmarks: an ES256 or Ed25519 key from WebCrypto, and the
// registration and authentication responses a browser would send for it (WebAuthn Level 3
// JSON forms, attestation `none`). The Rust tests have their own (src/auth/webauthn/soft.rs).

import { createHash, webcrypto } from "node:crypto";

const { subtle } = webcrypto;
const b64url = (bytes) => Buffer.from(bytes).toString("base64url");
const sha256 = (bytes) => createHash("sha256").update(bytes).digest();

// Minimal CBOR for what authenticators send.
function head(major, n) {
  if (n < 24) return [(major << 5) | n];
  if (n < 256) return [(major << 5) | 24, n];
  return [(major << 5) | 25, n >> 8, n & 0xff];
}
const int = (n) => (n >= 0 ? head(0, n) : head(1, -1 - n));
const bytes = (b) => [...head(2, b.length), ...b];
const text = (t) => bytes(Buffer.from(t)).map((x, i) => (i === 0 ? x + 0x20 : x));

const UP = 0x01, UV = 0x04, AT = 0x40;

export class SoftPasskey {
  static async create(algorithm = "ES256") {
    const self = new SoftPasskey();
    self.algorithm = algorithm;
    self.keys = algorithm === "ES256"
      ? await subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, ["sign"])
      : await subtle.generateKey({ name: "Ed25519" }, true, ["sign"]);
    self.raw = new Uint8Array(await subtle.exportKey("raw", self.keys.publicKey));
    self.credentialId = webcrypto.getRandomValues(new Uint8Array(16));
    self.count = 0;
    return self;
  }

  coseKey() {
    if (this.algorithm === "ES256") {
      return [0xa5, ...int(1), ...int(2), ...int(3), ...int(-7), ...int(-1), ...int(1),
        ...int(-2), ...bytes(this.raw.slice(1, 33)), ...int(-3), ...bytes(this.raw.slice(33))];
    }
    return [0xa4, ...int(1), ...int(1), ...int(3), ...int(-8), ...int(-1), ...int(6),
      ...int(-2), ...bytes(this.raw)];
  }

  authData(rpId, attested) {
    const count = [24, 16, 8, 0].map((s) => (this.count >>> s) & 0xff);
    const flags = UP | UV | (attested ? AT : 0);
    const out = [...sha256(rpId), flags, ...count];
    if (attested) {
      out.push(...new Uint8Array(16), 0, this.credentialId.length, ...this.credentialId, ...this.coseKey());
    }
    return Uint8Array.from(out);
  }

  clientData(type, challenge, origin) {
    return Buffer.from(JSON.stringify({ type, challenge, origin, crossOrigin: false }));
  }

  registration(options, origin) {
    const clientData = this.clientData("webauthn.create", options.challenge, origin);
    const attestation = Uint8Array.from([0xa3, ...text("fmt"), ...text("none"), ...text("attStmt"), 0xa0,
      ...text("authData"), ...bytes(this.authData(options.rp.id, true))]);
    const id = b64url(this.credentialId);
    return { id, rawId: id, type: "public-key", clientExtensionResults: {},
      response: { clientDataJSON: b64url(clientData), attestationObject: b64url(attestation), transports: ["internal"] } };
  }

  async authentication(options, origin, userHandle) {
    this.count += 1;
    const clientData = this.clientData("webauthn.get", options.challenge, origin);
    const authData = this.authData(options.rpId, false);
    const message = Buffer.concat([authData, sha256(clientData)]);
    const params = this.algorithm === "ES256" ? { name: "ECDSA", hash: "SHA-256" } : { name: "Ed25519" };
    let signature = new Uint8Array(await subtle.sign(params, this.keys.privateKey, message));
    if (this.algorithm === "ES256") signature = der(signature);
    const id = b64url(this.credentialId);
    return { id, rawId: id, type: "public-key", clientExtensionResults: {},
      response: { clientDataJSON: b64url(clientData), authenticatorData: b64url(authData),
        signature: b64url(signature), userHandle } };
  }
}

// r ‖ s (WebCrypto) to the DER an authenticator sends.
function der(raw) {
  const integer = (v) => {
    let i = 0;
    while (i < v.length - 1 && v[i] === 0) i++;
    const body = v[i] & 0x80 ? [0, ...v.slice(i)] : [...v.slice(i)];
    return [0x02, body.length, ...body];
  };
  const seq = [...integer(raw.slice(0, 32)), ...integer(raw.slice(32))];
  return Uint8Array.from([0x30, seq.length, ...seq]);
}
