# docs/operations.md keeps up with the module: its troubleshooting table
# must hold every line the module can write to the error log.  Needs
# neither nginx nor Redis.
#
#  - every ngx_log_error() in ngx_http_oneid_module/*.c whose format starts
#    with "oneid: " (debug lines left out: they are for developers) must
#    have a row of the table ("## Troubleshooting" up to the next "## ")
#    in which the format's constant parts appear, in order: the values
#    (%V, %s, %ui, ...) are free, so a row writes <address> or a real
#    example where the format has %V;
#  - the fixed words the module fills in for some %s (what failed on the
#    Redis connection, on the subscription, which request found the
#    session store unavailable) must appear in the table too;
#  - README links the guide.

use strict;
use warnings;

use Test::More;

my $SRC = 'ngx_http_oneid_module';
my $DOC = 'docs/operations.md';

# the top-level arguments of the call whose "(" ends at $pos: commas
# inside parentheses, strings and character constants do not split
sub call_args {
    my ($src, $pos) = @_;
    my ($depth, $cur, @args) = (1, '');

    while ($pos < length $src) {
        my $c = substr($src, $pos, 1);

        if ($c eq '"' || $c eq "'") {
            my $end = $pos + 1;
            $end += substr($src, $end, 1) eq '\\' ? 2 : 1
                while substr($src, $end, 1) ne $c;
            $cur .= substr($src, $pos, $end - $pos + 1);
            $pos = $end + 1;
            next;
        }

        $depth++ if $c eq '(';
        $depth-- if $c eq ')';
        last if $depth == 0;

        if ($c eq ',' && $depth == 1) {
            push @args, $cur;
            $cur = '';
        } else {
            $cur .= $c;
        }
        $pos++;
    }

    return (@args, $cur);
}

# the C string of an argument: adjacent literals joined, escapes undone
sub c_string {
    my $s = join '', $_[0] =~ /"((?:[^"\\]|\\.)*)"/g;
    $s =~ s/\\(["\\])/$1/g;
    return $s;
}

my (@formats, @words);

for my $file (sort glob "$SRC/*.c") {
    open my $fh, '<', $file or die "$file: $!";
    my $src = do { local $/; <$fh> };
    close $fh;

    while ($src =~ /\bngx_log_error\s*\(/g) {
        my @args = call_args($src, pos $src);
        my $fmt = c_string($args[3] // '');
        next unless $fmt =~ /^oneid: /;
        my $line = 1 + (substr($src, 0, pos $src) =~ tr/\n//);
        push @formats, [ "$file:$line", $fmt ];
    }

    # the fixed words given to the loggers of these helpers
    while ($src =~ /\bngx_http_oneid_(store_failed|redis_went_down
                                      |pubsub_failed)\s*\(/gx)
    {
        my @args = call_args($src, pos $src);
        my $arg = $1 eq 'store_failed' ? $args[2] : $args[1];
        next unless defined $arg && $arg =~ /^\s*"/;
        push @words, [ $file, c_string($arg) ];
    }
}

cmp_ok(scalar @formats, '>', 60, 'error log formats found in the sources')
    or diag 'the extraction of ngx_log_error() calls is broken';
cmp_ok(scalar @words, '>', 8, 'fixed words of the Redis loggers found');

open my $fh, '<', $DOC or die "$DOC: $!";
my $doc = do { local $/; <$fh> };
close $fh;

my ($table) = $doc =~ /^## Troubleshooting\n(.*?)(?=^## )/ms;
ok(defined $table, "$DOC has a Troubleshooting section") or done_testing(),
    exit;

my @rows = grep { /^\|/ } split /\n/, $table;

# printf conversions of ngx_sprintf(): %V %s %ui %uz %d %T %*s ...
my $CONV = qr/%(?:\*s|[0-9.]*[uxX]*[A-Za-z])/;

for my $f (@formats) {
    my ($where, $fmt) = @$f;
    my @parts = grep { length >= 2 }
                map { s/^\s+|\s+$//gr } split $CONV, $fmt;
    my $re = join '.*?', map { quotemeta } @parts;
    ok((grep { /$re/ } @rows), "table row for $where: $fmt");
}

for my $w (@words) {
    my ($where, $word) = @$w;
    ok(index($table, $word) >= 0, "table names \"$word\" ($where)");
}

open $fh, '<', 'README.md' or die "README.md: $!";
my $readme = do { local $/; <$fh> };
close $fh;

ok($readme =~ m{\]\(docs/operations\.md\)}, 'README links the guide');

done_testing();
