//! KV config (`PUT_KV_CONFIG` and friends), persisted as `{"configTable":{ns:{k:v}}}`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::RwLock;

use serde::{Deserialize, Serialize};

#[derive(Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct KvFile {
    config_table: BTreeMap<String, BTreeMap<String, String>>,
}

pub struct KvConfig {
    path: Option<PathBuf>,
    table: RwLock<BTreeMap<String, BTreeMap<String, String>>>,
}

impl KvConfig {
    /// Loads the file if it exists; a file that does not parse is an error, not an empty table.
    pub fn load(path: Option<PathBuf>) -> std::io::Result<KvConfig> {
        let mut table = BTreeMap::new();
        if let Some(p) = &path {
            match std::fs::read(p) {
                Ok(bytes) => {
                    let f: KvFile =
                        serde_json::from_slice(&bytes).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, format!("{}: {e}", p.display())))?;
                    table = f.config_table;
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        Ok(KvConfig { path, table: RwLock::new(table) })
    }

    pub fn put(&self, namespace: &str, key: &str, value: &str) {
        let mut t = self.table.write().unwrap_or_else(|e| e.into_inner());
        t.entry(namespace.to_string()).or_default().insert(key.to_string(), value.to_string());
        self.persist(&t);
    }

    pub fn get(&self, namespace: &str, key: &str) -> Option<String> {
        self.table.read().unwrap_or_else(|e| e.into_inner()).get(namespace)?.get(key).cloned()
    }

    pub fn delete(&self, namespace: &str, key: &str) {
        let mut t = self.table.write().unwrap_or_else(|e| e.into_inner());
        if let Some(ns) = t.get_mut(namespace) {
            ns.remove(key);
        }
        self.persist(&t);
    }

    pub fn list(&self, namespace: &str) -> Option<BTreeMap<String, String>> {
        self.table.read().unwrap_or_else(|e| e.into_inner()).get(namespace).cloned()
    }

    fn persist(&self, table: &BTreeMap<String, BTreeMap<String, String>>) {
        let Some(path) = &self.path else { return };
        let body = serde_json::to_vec_pretty(&KvFile { config_table: table.clone() }).unwrap_or_default();
        let tmp = path.with_extension("tmp");
        let result = path.parent().map_or(Ok(()), std::fs::create_dir_all).and_then(|_| std::fs::write(&tmp, body)).and_then(|_| std::fs::rename(&tmp, path));
        if let Err(e) = result {
            tracing::error!(path = %path.display(), error = %e, "failed to persist KV config");
        }
    }
}
