//! The loopback floor: one TCP round trip on 127.0.0.1 between two threads of this
//! process, the least any message between two nodes of this machine can take.
//!
//! One byte each way with `TCP_NODELAY`, as libp2p's TCP transport sets it; QUIC over UDP
//! costs at least as much. The server runs on its own thread, so each round trip includes
//! the two thread wake-ups a node's message also pays.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use super::stats::Summary;

/// Round trips before timing starts, so both threads and the socket are warm.
const WARM_UP_ROUND_TRIPS: usize = 200;

/// Times `round_trips` one-byte ping-pongs over a loopback TCP connection.
pub fn loopback_round_trip(round_trips: usize) -> Result<Summary> {
    let listener = TcpListener::bind("127.0.0.1:0").context("cannot bind a loopback socket")?;
    let address = listener.local_addr()?;
    let total = WARM_UP_ROUND_TRIPS + round_trips;
    let server = std::thread::spawn(move || -> Result<()> {
        let (mut stream, _) = listener.accept()?;
        stream.set_nodelay(true)?;
        let mut byte = [0u8; 1];
        for _ in 0..total {
            stream.read_exact(&mut byte)?;
            stream.write_all(&byte)?;
        }
        Ok(())
    });
    let mut stream = TcpStream::connect(address).context("cannot connect on loopback")?;
    stream.set_nodelay(true)?;
    let mut samples = Vec::with_capacity(round_trips);
    let mut byte = [7u8; 1];
    for trip in 0..total {
        let started = Instant::now();
        stream.write_all(&byte)?;
        stream.read_exact(&mut byte)?;
        if trip >= WARM_UP_ROUND_TRIPS {
            samples.push(started.elapsed());
        }
    }
    server
        .join()
        .map_err(|_| anyhow::anyhow!("loopback echo thread panicked"))??;
    Ok(Summary::of(&samples))
}

/// A duration of `millis` milliseconds.
pub fn millis(millis: f64) -> Duration {
    Duration::from_secs_f64(millis.max(0.0) / 1e3)
}
