'use strict';
// A throwaway certificate authority and a server certificate it signed, for tls.test.js.
// Node's crypto makes the RSA keys; node-forge (Node cannot sign X.509 by itself) the
// certificates. The server key is written as PKCS#1 ("RSA PRIVATE KEY").

const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const forge = require('node-forge');

const ORG = { name: 'organizationName', value: 'rocketry compat-grpc' };

function rsaKeys() {
  const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const pem = privateKey.export({ type: 'pkcs1', format: 'pem' });
  const key = forge.pki.privateKeyFromPem(pem);
  return { privateKey: key, publicKey: forge.pki.setRsaPublicKey(key.n, key.e) };
}

function serial() {
  // positive: the first hex digit below 8
  return '1' + crypto.randomBytes(15).toString('hex');
}

function certificate({ keys, subject, issuer, signer, extensions }) {
  const cert = forge.pki.createCertificate();
  cert.publicKey = keys.publicKey;
  cert.serialNumber = serial();
  const now = Date.now();
  cert.validity.notBefore = new Date(now - 3600 * 1000);
  cert.validity.notAfter = new Date(now + 24 * 3600 * 1000);
  cert.setSubject(subject);
  cert.setIssuer(issuer);
  cert.setExtensions(extensions);
  cert.sign(signer, forge.md.sha256.create());
  return cert;
}

/**
 * Writes ca.pem, server.pem (the server certificate, then the CA's: a chain) and server.key
 * into a new temp dir; returns their paths and `dir`. The server certificate names 127.0.0.1
 * (IP SAN) and localhost; everything is valid from an hour ago for a day.
 */
function make() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rocketry-node-tls-'));
  const caKeys = rsaKeys();
  const caName = [ ORG, { name: 'commonName', value: 'rocketry compat-grpc test CA' } ];
  const ca = certificate({
    keys: caKeys, subject: caName, issuer: caName, signer: caKeys.privateKey,
    extensions: [
      { name: 'basicConstraints', cA: true, pathLenConstraint: 0, critical: true },
      { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
      { name: 'subjectKeyIdentifier' },
    ],
  });
  const keys = rsaKeys();
  const server = certificate({
    keys, subject: [ ORG, { name: 'commonName', value: 'localhost' } ], issuer: caName, signer: caKeys.privateKey,
    extensions: [
      { name: 'basicConstraints', cA: false, critical: true },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
      { name: 'extKeyUsage', serverAuth: true },
      { name: 'subjectAltName', altNames: [ { type: 2, value: 'localhost' }, { type: 7, ip: '127.0.0.1' } ] },
      { name: 'subjectKeyIdentifier' },
      { name: 'authorityKeyIdentifier', keyIdentifier: ca.generateSubjectKeyIdentifier().getBytes() },
    ],
  });
  const paths = {
    dir,
    ca: path.join(dir, 'ca.pem'),
    cert: path.join(dir, 'server.pem'),
    key: path.join(dir, 'server.key'),
  };
  const caPem = forge.pki.certificateToPem(ca);
  fs.writeFileSync(paths.ca, caPem);
  fs.writeFileSync(paths.cert, forge.pki.certificateToPem(server) + caPem);
  fs.writeFileSync(paths.key, forge.pki.privateKeyToPem(keys.privateKey));
  return paths;
}

module.exports = { make };
