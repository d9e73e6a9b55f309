//! A TCP proxy that holds every new connection for a while before passing bytes on: it
//! makes hookd's reachability probe of a URL take as long as a test needs (the probe
//! connects and completes a TLS handshake through it, with the receiver behind).

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::time::Duration;

pub struct SlowProxy {
    port: u16,
}

impl SlowProxy {
    /// Listen on a loopback port; each connection waits `delay`, then is joined to
    /// `127.0.0.1:target_port`. Runs until the test process ends.
    pub fn start(target_port: u16, delay: Duration) -> SlowProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the proxy");
        let port = listener.local_addr().expect("proxy address").port();
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                std::thread::spawn(move || {
                    std::thread::sleep(delay);
                    if let Ok(server) = TcpStream::connect(("127.0.0.1", target_port)) {
                        join(client, server);
                    }
                });
            }
        });
        SlowProxy { port }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `https://localhost:PORT/path` through the proxy.
    pub fn https_url(&self, path: &str) -> String {
        format!("https://localhost:{}{path}", self.port)
    }
}

fn join(client: TcpStream, server: TcpStream) {
    let (Ok(client2), Ok(server2)) = (client.try_clone(), server.try_clone()) else {
        return;
    };
    let up = std::thread::spawn(move || pipe(client, server));
    pipe(server2, client2);
    let _ = up.join();
}

fn pipe(mut from: TcpStream, mut to: TcpStream) {
    let mut buf = [0u8; 16 * 1024];
    loop {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}
