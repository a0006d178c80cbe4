//! A minimal W3C WebDriver client over reqwest (no extra dependency): just what the console test needs,
//! talking to chromedriver, which drives a headless Chromium.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use serde_json::{json, Value};
use tokio::process::{Child, Command};

/// The key W3C WebDriver uses for element references.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

/// How long waits for the page last before the test fails.
pub const WAIT: Duration = Duration::from_secs(15);

/// chromium and chromedriver found on this machine.
pub struct BrowserInstall {
    pub chromium: PathBuf,
    pub chromedriver: PathBuf,
}

impl BrowserInstall {
    /// Looks for the browser (`UKO_CONSOLE_CHROMIUM` / `UKO_CONSOLE_CHROMEDRIVER`, else `PATH`).
    pub fn find() -> Option<BrowserInstall> {
        let from_env = |name: &str| std::env::var_os(name).map(PathBuf::from).filter(|p| p.is_file());
        let chromium = from_env("UKO_CONSOLE_CHROMIUM")
            .or_else(|| ["chromium", "chromium-browser", "google-chrome"].iter().find_map(|n| on_path(n)))?;
        let chromedriver = from_env("UKO_CONSOLE_CHROMEDRIVER").or_else(|| on_path("chromedriver"))?;
        Some(BrowserInstall { chromium, chromedriver })
    }
}

fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|dir| dir.join(name)).find(|candidate| candidate.is_file())
}

/// A running chromedriver; killed when dropped (it takes its Chromium with it once the session is gone).
pub struct Driver {
    process: Child,
    base: String,
    http: reqwest::Client,
}

impl Driver {
    /// Starts chromedriver on a free loopback port and waits until it is ready.
    pub async fn start(install: &BrowserInstall) -> Result<Driver> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let process = Command::new(&install.chromedriver)
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("cannot start {}", install.chromedriver.display()))?;
        let driver = Driver { process, base: format!("http://127.0.0.1:{port}"), http: reqwest::Client::new() };
        let started = Instant::now();
        loop {
            let ready = driver.http.get(format!("{}/status", driver.base)).send().await;
            if let Ok(response) = ready {
                let body: Value = response.json().await.unwrap_or_default();
                if body["value"]["ready"].as_bool() == Some(true) {
                    return Ok(driver);
                }
            }
            if started.elapsed() > Duration::from_secs(20) {
                bail!("chromedriver did not become ready on port {port}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Opens a headless Chromium with a fresh profile in `profile`.
    pub async fn new_session(&self, install: &BrowserInstall, profile: &Path) -> Result<Session> {
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--window-size=1280,900",
            "--lang=en-US",
        ]
        .iter()
        .map(|a| a.to_string())
        .chain([format!("--user-data-dir={}", profile.display())])
        .collect::<Vec<_>>();
        let capabilities = json!({
            "capabilities": {
                "alwaysMatch": {
                    "browserName": "chrome",
                    "goog:chromeOptions": { "binary": install.chromium, "args": args },
                    "goog:loggingPrefs": { "browser": "ALL" }
                }
            }
        });
        let value =
            call(&self.http, reqwest::Method::POST, &format!("{}/session", self.base), Some(capabilities)).await?;
        let id = value["sessionId"].as_str().ok_or_else(|| anyhow!("no session id in {value}"))?.to_owned();
        Ok(Session { base: format!("{}/session/{id}", self.base), http: self.http.clone() })
    }

    /// Stops chromedriver.
    pub async fn stop(mut self) {
        let _ = self.process.kill().await;
    }
}

async fn call(http: &reqwest::Client, method: reqwest::Method, url: &str, body: Option<Value>) -> Result<Value> {
    let mut request = http.request(method.clone(), url);
    if let Some(body) = body {
        request = request.json(&body);
    } else if method == reqwest::Method::POST {
        request = request.json(&json!({}));
    }
    let response = request.send().await.with_context(|| format!("{method} {url}"))?;
    let status = response.status();
    let body: Value = response.json().await.with_context(|| format!("{method} {url}: body"))?;
    if !status.is_success() {
        let error = body["value"]["error"].as_str().unwrap_or("unknown error");
        let message = body["value"]["message"].as_str().unwrap_or("");
        bail!(WebDriverError { error: error.to_owned(), message: message.lines().next().unwrap_or("").to_owned() });
    }
    Ok(body["value"].clone())
}

/// An error answered by the WebDriver server.
#[derive(Debug)]
pub struct WebDriverError {
    pub error: String,
    pub message: String,
}

impl std::fmt::Display for WebDriverError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "webdriver {}: {}", self.error, self.message)
    }
}

impl std::error::Error for WebDriverError {}

/// How to find elements.
#[derive(Clone, Copy)]
pub enum By<'a> {
    Css(&'a str),
    XPath(&'a str),
}

impl By<'_> {
    fn body(&self) -> Value {
        match self {
            By::Css(selector) => json!({ "using": "css selector", "value": selector }),
            By::XPath(path) => json!({ "using": "xpath", "value": path }),
        }
    }

    fn describe(&self) -> String {
        match self {
            By::Css(selector) => format!("css `{selector}`"),
            By::XPath(path) => format!("xpath `{path}`"),
        }
    }
}

/// One browser session.
pub struct Session {
    base: String,
    http: reqwest::Client,
}

/// A reference to an element of the current page.
#[derive(Clone, Debug)]
pub struct Element(String);

impl Session {
    async fn post(&self, path: &str, body: Value) -> Result<Value> {
        call(&self.http, reqwest::Method::POST, &format!("{}{path}", self.base), Some(body)).await
    }

    async fn get(&self, path: &str) -> Result<Value> {
        call(&self.http, reqwest::Method::GET, &format!("{}{path}", self.base), None).await
    }

    /// Navigates to a URL.
    pub async fn goto(&self, url: &str) -> Result<()> {
        self.post("/url", json!({ "url": url })).await.map(|_| ())
    }

    /// All elements matching now.
    pub async fn find_all(&self, by: By<'_>) -> Result<Vec<Element>> {
        let value = self.post("/elements", by.body()).await?;
        Ok(value
            .as_array()
            .map(|items| {
                items.iter().filter_map(|i| i[ELEMENT_KEY].as_str().map(|id| Element(id.to_owned()))).collect()
            })
            .unwrap_or_default())
    }

    /// Waits until an element matches and is displayed.
    pub async fn wait(&self, by: By<'_>) -> Result<Element> {
        let started = Instant::now();
        loop {
            for element in self.find_all(by).await? {
                if self.displayed(&element).await.unwrap_or(false) {
                    return Ok(element);
                }
            }
            if started.elapsed() > WAIT {
                bail!("no visible element for {} after {:?}", by.describe(), WAIT);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until nothing matches `by`.
    pub async fn wait_gone(&self, by: By<'_>) -> Result<()> {
        let started = Instant::now();
        while !self.find_all(by).await?.is_empty() {
            if started.elapsed() > WAIT {
                bail!("{} still present after {:?}", by.describe(), WAIT);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(())
    }

    /// Waits for an element and clicks it.
    pub async fn click(&self, by: By<'_>) -> Result<()> {
        let element = self.wait(by).await?;
        self.post(&format!("/element/{}/click", element.0), json!({})).await.map(|_| ())
    }

    /// Whether an element is displayed.
    pub async fn displayed(&self, element: &Element) -> Result<bool> {
        Ok(self.get(&format!("/element/{}/displayed", element.0)).await?.as_bool().unwrap_or(false))
    }

    /// The rendered text of an element.
    pub async fn text(&self, element: &Element) -> Result<String> {
        Ok(self.get(&format!("/element/{}/text", element.0)).await?.as_str().unwrap_or("").to_owned())
    }

    /// Waits for an element, then returns its text.
    pub async fn text_of(&self, by: By<'_>) -> Result<String> {
        let element = self.wait(by).await?;
        self.text(&element).await
    }

    /// The focused element's text and tag, for focus checks.
    pub async fn active_element_description(&self) -> Result<String> {
        let value = self
            .execute("const e = document.activeElement; return e ? `${e.tagName.toLowerCase()}:${e.textContent.trim().slice(0, 60)}` : '';", json!([]))
            .await?;
        Ok(value.as_str().unwrap_or("").to_owned())
    }

    /// Runs a script in the page.
    pub async fn execute(&self, script: &str, args: Value) -> Result<Value> {
        self.post("/execute/sync", json!({ "script": script, "args": args })).await
    }

    /// Presses keys in the focused element (WebDriver key codes, e.g. "\u{E015}" for ArrowDown).
    pub async fn send_keys_to(&self, by: By<'_>, text: &str) -> Result<()> {
        let element = self.wait(by).await?;
        self.post(&format!("/element/{}/value", element.0), json!({ "text": text })).await.map(|_| ())
    }

    /// Waits for an input, empties it and types `text`.
    pub async fn fill(&self, by: By<'_>, text: &str) -> Result<()> {
        let element = self.wait(by).await?;
        self.post(&format!("/element/{}/clear", element.0), json!({})).await?;
        self.post(&format!("/element/{}/value", element.0), json!({ "text": text })).await.map(|_| ())
    }

    /// Saves a PNG of the whole page, beyond the window's height (Chromium's DevTools capture).
    pub async fn screenshot(&self, path: PathBuf) -> Result<()> {
        let size = self
            .execute(
                "return [document.documentElement.scrollWidth, Math.max(document.documentElement.scrollHeight, document.body.scrollHeight)];",
                json!([]),
            )
            .await?;
        let width = size[0].as_u64().unwrap_or(1280);
        let height = size[1].as_u64().unwrap_or(900).min(6000);
        let capture = json!({
            "cmd": "Page.captureScreenshot",
            "params": {
                "format": "png",
                "captureBeyondViewport": true,
                "clip": { "x": 0, "y": 0, "width": width, "height": height, "scale": 1 }
            }
        });
        let data = match self.post("/goog/cdp/execute", capture).await {
            Ok(value) => value["data"].clone(),
            // Not Chromium's driver: the window only.
            Err(_) => self.get("/screenshot").await?,
        };
        let png = base64_decode(data.as_str().ok_or_else(|| anyhow!("screenshot is not a string"))?)?;
        std::fs::write(&path, png).with_context(|| format!("cannot write {}", path.display()))
    }

    /// Browser console messages at level SEVERE, other than failed network loads (a refused UKO request
    /// is logged by Chromium as a failed resource load; the console shows those on purpose).
    pub async fn severe_console_messages(&self) -> Result<Vec<String>> {
        let value = self.post("/se/log", json!({ "type": "browser" })).await?;
        Ok(value
            .as_array()
            .map(|entries| {
                entries
                    .iter()
                    .filter(|e| e["level"] == "SEVERE")
                    .filter_map(|e| e["message"].as_str())
                    .filter(|m| !m.contains("Failed to load resource"))
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default())
    }

    /// Ends the session (closes Chromium).
    pub async fn quit(&self) {
        let _ = call(&self.http, reqwest::Method::DELETE, &self.base, None).await;
    }
}

/// Standard base64 (with padding), as WebDriver returns screenshots.
pub fn base64_decode(text: &str) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let mut buffer = 0u32;
    let mut bits = 0;
    for byte in text.bytes() {
        let value = match byte {
            b'A'..=b'Z' => byte - b'A',
            b'a'..=b'z' => byte - b'a' + 26,
            b'0'..=b'9' => byte - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' | b'\n' | b'\r' => continue,
            other => bail!("invalid base64 byte {other}"),
        };
        buffer = (buffer << 6) | u32::from(value);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
            buffer &= (1 << bits) - 1;
        }
    }
    Ok(out)
}

#[test]
fn base64_decodes_known_vectors() {
    assert_eq!(base64_decode("Zm9vYmFy").unwrap(), b"foobar");
    assert_eq!(base64_decode("Zm9vYg==").unwrap(), b"foob");
    assert_eq!(base64_decode("Zm8=").unwrap(), b"fo");
}
