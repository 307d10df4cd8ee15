//! Hot paths of the RESP server: parsing a pipeline of 64 `GET key:NNNN` commands off
//! one read buffer, and encoding 64 bulk replies into one write buffer. Throughput is
//! per command, so criterion's "elem/s" reads as commands per second.

use bytes::BytesMut;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use roost_resp::{write_bulk, write_command, CommandParser, Limits};

const PIPELINE_DEPTH: usize = 64;

fn pipeline_of_gets() -> BytesMut {
    let mut input = BytesMut::new();
    for n in 0..PIPELINE_DEPTH {
        let key = format!("key:{n:04}");
        write_command(&mut input, &[b"GET", key.as_bytes()]);
    }
    input
}

fn parse_pipeline(c: &mut Criterion) {
    let input = pipeline_of_gets();
    let mut parser = CommandParser::new(Limits::default());
    let mut group = c.benchmark_group("parse");
    group.throughput(Throughput::Elements(PIPELINE_DEPTH as u64));
    group.bench_function("pipeline_64_get", |b| {
        b.iter_batched_ref(
            || input.clone(),
            |buf| {
                let mut commands = 0;
                while let Ok(Some(args)) = parser.parse(buf) {
                    commands += args.len();
                }
                assert_eq!(commands, 2 * PIPELINE_DEPTH);
            },
            BatchSize::SmallInput,
        );
    });
    group.finish();
}

fn encode_replies(c: &mut Criterion) {
    let value = vec![b'v'; 100];
    let mut out = BytesMut::with_capacity(PIPELINE_DEPTH * 128);
    let mut group = c.benchmark_group("encode");
    group.throughput(Throughput::Elements(PIPELINE_DEPTH as u64));
    group.bench_function("bulk_64x100B", |b| {
        b.iter(|| {
            out.clear();
            for _ in 0..PIPELINE_DEPTH {
                write_bulk(&mut out, std::hint::black_box(&value));
            }
            std::hint::black_box(out.len())
        });
    });
    group.finish();
}

criterion_group!(benches, parse_pipeline, encode_replies);
criterion_main!(benches);
