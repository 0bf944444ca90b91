//! How each group consumes each topic, PULL or POP (`config/messageRequestMode.json`, the
//! Java broker's `MessageRequestModeManager` and file layout), set by
//! SET_MESSAGE_REQUEST_MODE (mqadmin `setConsumeMode`) and read by QUERY_ASSIGNMENT.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use protocol::pop::SetMessageRequestModeRequestBody;
use serde::{Deserialize, Serialize};

use crate::persist;

#[derive(Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ModeFile {
    /// topic → group → setting.
    pub message_request_mode_map: BTreeMap<String, BTreeMap<String, SetMessageRequestModeRequestBody>>,
}

pub struct RequestModes {
    state: Arc<RwLock<ModeFile>>,
    persister: persist::Persister,
}

impl RequestModes {
    pub fn load(root: &std::path::Path) -> std::io::Result<RequestModes> {
        let path = root.join("config").join("messageRequestMode.json");
        let state: Arc<RwLock<ModeFile>> = Arc::new(RwLock::new(persist::load(&path)?));
        let persister = persist::Persister::json(path, "message request modes", state.clone())?;
        Ok(RequestModes { state, persister })
    }

    pub fn get(&self, topic: &str, group: &str) -> Option<SetMessageRequestModeRequestBody> {
        self.state.read().unwrap_or_else(|e| e.into_inner()).message_request_mode_map.get(topic)?.get(group).cloned()
    }

    /// Stores a setting and writes the file before returning.
    pub fn set(&self, setting: SetMessageRequestModeRequestBody) {
        {
            let mut s = self.state.write().unwrap_or_else(|e| e.into_inner());
            s.message_request_mode_map.entry(setting.topic.clone()).or_default().insert(setting.consumer_group.clone(), setting);
        }
        self.persister.save();
    }

    pub fn persist(&self) {
        self.persister.save();
    }
}
