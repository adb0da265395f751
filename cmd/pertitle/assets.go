package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

const assetsUsage = `pertitle assets list [--status S] [--owner O] [--limit N] [--all] [--json]
       pertitle assets get ID [--json]
       pertitle assets delete ID
       pertitle assets retry ID [--wait] [--json]`

// assetCommands are the subcommands of `pertitle assets`.
var assetCommands = []string{"list", "get", "delete", "retry"}

func cmdAssets(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || helpRequested(args[:1]) {
		fmt.Fprintln(stdout, "Usage: "+assetsUsage+"\n\nList, show, delete (sources and outputs too) and retry (a failed one) your assets; admins: anyone's.")
		if len(args) == 0 {
			return exitError{2, errQuiet}
		}
		return nil
	}
	catalog := envOr("PERTITLE_CATALOG_URL", "http://127.0.0.1:8080")
	c := &catalogClient{base: strings.TrimSuffix(catalog, "/"), tokens: newTokenSource()}
	switch args[0] {
	case "list":
		return c.list(ctx, args[1:], stdout, stderr)
	case "get":
		return c.get(ctx, args[1:], stdout, stderr)
	case "delete":
		return c.delete(ctx, args[1:], stdout, stderr)
	case "retry":
		return c.retry(ctx, args[1:], stdout, stderr)
	}
	fmt.Fprintln(stderr, "Usage: "+assetsUsage)
	return exitError{2, fmt.Errorf("unknown assets command %q", args[0])}
}

type catalogClient struct {
	base   string
	tokens *tokenSource
}

// call sends method to the catalog's path and returns the answer's status and body.
func (c *catalogClient) call(ctx context.Context, method, path string) (int, []byte, error) {
	token, err := c.tokens.Token(ctx)
	if err != nil {
		return 0, nil, err
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, nil)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("cannot reach the catalog at %s (is the stack running? `make run`): %w", c.base, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if resp.StatusCode == http.StatusUnauthorized {
		return resp.StatusCode, body, fmt.Errorf("catalog refused the token (%s): %w", apiError(body), errNotSignedIn)
	}
	return resp.StatusCode, body, nil
}

// expect turns an answer other than want into an error naming the problem.
func expect(status, want int, body []byte, what string) error {
	if status == want {
		return nil
	}
	return fmt.Errorf("cannot %s (%d): %s", what, status, apiError(body))
}

// onAsset runs an assets subcommand that takes one asset id: it parses args
// with fs, sends method to the asset's path (+ suffix) and expects want.
func (c *catalogClient) onAsset(ctx context.Context, fs *flag.FlagSet, args []string, stdout io.Writer,
	usage, method, suffix string, want int, what string) (id string, body []byte, err error) {
	pos, err := parseArgs(fs, args, stdout)
	if err != nil {
		return "", nil, err
	}
	if len(pos) != 1 || pos[0] == "" {
		return "", nil, exitError{2, errors.New("usage: " + usage)}
	}
	code, body, err := c.call(ctx, method, "/v1/assets/"+url.PathEscape(pos[0])+suffix)
	if err != nil {
		return "", nil, err
	}
	return pos[0], body, expect(code, want, body, what+" asset "+pos[0])
}

func (c *catalogClient) list(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	const usage = "pertitle assets list [--status S] [--owner O] [--limit N] [--all] [--json]"
	fs := newFlags("assets list", usage, stderr)
	status := fs.String("status", "", "only assets in this status: uploaded, encoding, ready or failed")
	owner := fs.String("owner", "", "only this owner's assets (admins)")
	limit := fs.Int("limit", 50, "assets per page (at most 200)")
	all := fs.Bool("all", false, "follow next_cursor through every page")
	asJSON := fs.Bool("json", false, "print the pages' assets as one JSON array")
	pos, err := parseArgs(fs, args, stdout)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return exitError{2, errors.New("usage: " + usage)}
	}
	q := url.Values{"limit": {strconv.Itoa(*limit)}}
	if *status != "" {
		q.Set("status", *status)
	}
	if *owner != "" {
		q.Set("owner", *owner)
	}
	var assets []json.RawMessage
	for {
		code, body, err := c.call(ctx, http.MethodGet, "/v1/assets?"+q.Encode())
		if err != nil {
			return err
		}
		if err := expect(code, http.StatusOK, body, "list assets"); err != nil {
			return err
		}
		var page struct {
			Assets     []json.RawMessage `json:"assets"`
			NextCursor string            `json:"next_cursor"`
		}
		if err := json.Unmarshal(body, &page); err != nil {
			return fmt.Errorf("unexpected answer from the catalog: %w", err)
		}
		assets = append(assets, page.Assets...)
		if !*all || page.NextCursor == "" {
			break
		}
		q.Set("cursor", page.NextCursor)
	}
	if *asJSON {
		if assets == nil {
			assets = []json.RawMessage{}
		}
		return json.NewEncoder(stdout).Encode(assets)
	}
	return printAssets(stdout, assets)
}

func printAssets(w io.Writer, raw []json.RawMessage) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTATUS\tCREATED\tTITLE")
	for _, r := range raw {
		var a struct {
			ID        string    `json:"id"`
			Status    string    `json:"status"`
			Title     string    `json:"title"`
			CreatedAt time.Time `json:"created_at"`
		}
		if err := json.Unmarshal(r, &a); err != nil {
			return fmt.Errorf("unexpected asset from the catalog: %w", err)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", a.ID, a.Status, a.CreatedAt.Local().Format("2006-01-02 15:04"), a.Title)
	}
	return tw.Flush()
}

func (c *catalogClient) get(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	const usage = "pertitle assets get ID [--json]"
	fs := newFlags("assets get", usage, stderr)
	asJSON := fs.Bool("json", false, "print the asset as the API returns it")
	_, body, err := c.onAsset(ctx, fs, args, stdout, usage, http.MethodGet, "", http.StatusOK, "get")
	if err != nil {
		return err
	}
	if *asJSON {
		_, err := stdout.Write(append(body, '\n'))
		return err
	}
	var a asset
	if err := json.Unmarshal(body, &a); err != nil {
		return fmt.Errorf("unexpected answer from the catalog: %w", err)
	}
	fmt.Fprintf(stdout, "id:     %s\ntitle:  %s\nstatus: %s\n", a.ID, a.Title, a.Status)
	if a.Error != "" {
		fmt.Fprintf(stdout, "error:  %s\n", a.Error)
	}
	if a.Progress != nil {
		fmt.Fprintf(stdout, "%s\n", a.Progress)
	}
	if a.HLSURL != "" || a.DASHURL != "" {
		fmt.Fprintf(stdout, "HLS:    %s\nDASH:   %s\n", a.HLSURL, a.DASHURL)
	}
	for _, r := range a.Renditions {
		fmt.Fprintf(stdout, "  %4dx%-4d %6d kbit/s %8.1f MB\n", r.Width, r.Height, r.Bitrate/1000, float64(r.Bytes)/1e6)
	}
	return nil
}

func (c *catalogClient) delete(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	const usage = "pertitle assets delete ID"
	fs := newFlags("assets delete", usage+"\n\nDeletes the asset, its source and its outputs.", stderr)
	id, _, err := c.onAsset(ctx, fs, args, stdout, usage, http.MethodDelete, "", http.StatusNoContent, "delete")
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "deleted %s (its source and outputs are being removed)\n", id)
	return nil
}

func (c *catalogClient) retry(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	const usage = "pertitle assets retry ID [--wait] [--json] [--timeout D]"
	fs := newFlags("assets retry", usage+"\n\nEncodes a failed asset again.", stderr)
	wait := fs.Bool("wait", false, "wait until the new attempt is ready or failed, showing progress")
	asJSON := fs.Bool("json", false, "print the answer (or, with --wait, the asset) as JSON")
	timeout := fs.Duration("timeout", 30*time.Minute, "how long --wait waits")
	id, body, err := c.onAsset(ctx, fs, args, stdout, usage, http.MethodPost, "/retry", http.StatusAccepted, "retry")
	if err != nil {
		return err
	}
	var r struct {
		Attempt int    `json:"attempt"`
		JobID   string `json:"job_id"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return fmt.Errorf("unexpected answer from the catalog: %w", err)
	}
	if !*wait {
		if *asJSON {
			_, err := stdout.Write(append(body, '\n'))
			return err
		}
		fmt.Fprintf(stderr, "retrying %s: attempt %d (job %s)\n", id, r.Attempt, r.JobID)
		return nil
	}
	fmt.Fprintf(stderr, "retrying %s: attempt %d, waiting for it...\n", id, r.Attempt)
	wctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	return c.waitAttempt(wctx, id, r.JobID, *asJSON, stdout, stderr)
}

// waitAttempt waits for job to start (the asset stays failed until then), then
// for the asset to be ready or failed again.
func (c *catalogClient) waitAttempt(ctx context.Context, id, job string, asJSON bool, stdout, stderr io.Writer) error {
	u := c.base + "/v1/assets/" + url.PathEscape(id)
	for {
		a, err := getAsset(ctx, u, c.tokens)
		if err != nil && (errors.Is(err, errNotSignedIn) || ctx.Err() != nil) {
			return fmt.Errorf("gave up waiting for %s: %w", id, err)
		}
		var cur struct {
			JobID string `json:"job_id"`
		}
		if a != nil && json.Unmarshal(a.raw, &cur) == nil && cur.JobID == job {
			break
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("gave up waiting for attempt %s of %s to start: %w", job, id, ctx.Err())
		case <-time.After(500 * time.Millisecond):
		}
	}
	final, err := waitReady(ctx, c.base, id, c.tokens, stderr)
	if err != nil {
		return err
	}
	if asJSON {
		_, err = stdout.Write(append(final.raw, '\n'))
	}
	if final.Status == "failed" {
		return exitError{1, fmt.Errorf("asset %s failed again: %s", id, final.Error)}
	}
	if !asJSON {
		fmt.Fprintf(stdout, "id:   %s\nHLS:  %s\nDASH: %s\n", final.ID, final.HLSURL, final.DASHURL)
	}
	return err
}
