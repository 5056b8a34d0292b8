package fleet_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	dfapi "cloud.google.com/go/dataflow/apiv1beta3"
	"cloud.google.com/go/dataflow/apiv1beta3/dataflowpb"
	"github.com/eventdelivery/eventdelivery/launcher/dataflow"
	"github.com/eventdelivery/eventdelivery/launcher/deploy"
	"github.com/eventdelivery/eventdelivery/launcher/fakegcp/fakedataflow"
	"github.com/eventdelivery/eventdelivery/launcher/fleet"
	"github.com/eventdelivery/eventdelivery/launcher/internal/gcpclient"
	"github.com/eventdelivery/eventdelivery/launcher/launchertest"
	"github.com/eventdelivery/eventdelivery/launcher/plan"
)

// networked is the example fleet with the network keys in defaults and overrides in
// the second event type.
var networked = strings.Replace(strings.Replace(good, "  max_active_jobs_per_project: 25\n", `  max_active_jobs_per_project: 25
  network: prod-vpc
  subnetwork: regions/europe-west1/subnetworks/dataflow
  ip_configuration: private
  launcher_machine_type: e2-small
  kms_key_name: projects/my-project/locations/europe-west1/keyRings/df/cryptoKeys/jobs
  additional_experiments: [enable_prime, max_num_workers=10]
`, 1), "    version: v1.5.0-rc.1\n", `    version: v1.5.0-rc.1
    subnetwork: https://www.googleapis.com/compute/v1/projects/host-project/regions/us-central1/subnetworks/shared
    worker_zone: us-central1-b
    staging_location: gs://b/staging-search
    additional_experiments: []
`, 1)

func TestEnvironmentKeys(t *testing.T) {
	f := loadFleet(t, networked)
	pt, s := f.Jobs()[0].Environment, f.Jobs()[1].Environment
	if pt.Network != "prod-vpc" || pt.Subnetwork != "regions/europe-west1/subnetworks/dataflow" || pt.IPConfiguration != "private" ||
		pt.LauncherMachineType != "e2-small" || pt.KMSKeyName != "projects/my-project/locations/europe-west1/keyRings/df/cryptoKeys/jobs" ||
		!slices.Equal(pt.Experiments, []string{"enable_prime", "max_num_workers=10"}) || pt.StagingLocation != "gs://b/tmp/staging" {
		t.Errorf("play-track environment %+v", pt)
	}
	if s.Network != "prod-vpc" || !strings.HasSuffix(s.Subnetwork, "/subnetworks/shared") || s.WorkerZone != "us-central1-b" ||
		s.StagingLocation != "gs://b/staging-search" || len(s.Experiments) != 0 {
		t.Errorf("search environment %+v (overrides)", s)
	}

	// Every key is part of the configuration hash; the default staging location is not
	// (it follows temp_location), and a fleet without the keys keeps its hash.
	base := loadFleet(t, good)
	staged := loadFleet(t, strings.Replace(good, "  temp_location: gs://b/tmp\n", "  temp_location: gs://b/tmp\n  staging_location: gs://b/tmp/staging\n", 1))
	if staged.Jobs()[0].Environment.StagingLocation != base.Jobs()[0].Environment.StagingLocation || staged.Jobs()[0].ConfigHash == base.Jobs()[0].ConfigHash {
		t.Errorf("explicit staging location: %q hash %s; default %q hash %s", staged.Jobs()[0].Environment.StagingLocation, staged.Jobs()[0].ConfigHash,
			base.Jobs()[0].Environment.StagingLocation, base.Jobs()[0].ConfigHash)
	}
	hashes := map[string]string{}
	for _, line := range []string{"network: other-vpc", "ip_configuration: public", "launcher_machine_type: e2-medium", "worker_region: europe-west4",
		"kms_key_name: projects/p/locations/l/keyRings/r/cryptoKeys/k", "additional_experiments: [enable_prime]", "worker_zone: europe-west1-b"} {
		g, err := fleet.Load(writeFleet(t, strings.Replace(good, "  max_workers: 10\n", "  max_workers: 10\n  "+line+"\n", 1)))
		if err != nil {
			t.Fatalf("%s: %v", line, err)
		}
		h := g.Jobs()[0].ConfigHash
		if h == base.Jobs()[0].ConfigHash || hashes[h] != "" {
			t.Errorf("%s: hash %s (base %s, also %s)", line, h, base.Jobs()[0].ConfigHash, hashes[h])
		}
		hashes[h] = line
	}
}

func TestEnvironmentKeysValidated(t *testing.T) {
	bad := strings.Replace(good, "  max_active_jobs_per_project: 25\n", `  max_active_jobs_per_project: 25
  network: Prod_VPC
  subnetwork: projects/x/subnetworks/y
  ip_configuration: none
  staging_location: /tmp/staging
  worker_zone: europe-west1
  kms_key_name: my-key
  additional_experiments: [enable_prime, "two words", enable_prime]
`, 1)
	bad = strings.Replace(bad, "    version: v1.5.0-rc.1\n", `    version: v1.5.0-rc.1
    worker_region: us-central1
    subnetwork: regions/europe-west1/subnetworks/dataflow
    additional_experiments: enable_prime
`, 1)
	_, err := fleet.Load(writeFleet(t, bad))
	var verr *fleet.ValidationError
	if !errors.As(err, &verr) {
		t.Fatalf("want a ValidationError, got %v", err)
	}
	want := []string{
		`:15: defaults.network: "Prod_VPC" is not a VPC network name`,
		`:16: defaults.subnetwork: "projects/x/subnetworks/y" is not regions/REGION/subnetworks/NAME`,
		`:17: defaults.ip_configuration: "none": want public or private`,
		`:18: defaults.staging_location: "/tmp/staging" must be a gs:// path`,
		`:19: defaults.worker_zone: "europe-west1" is not a zone such as europe-west1-b`,
		`:20: defaults.kms_key_name: "my-key" is not projects/P/locations/L/keyRings/R/cryptoKeys/K`,
		`:21: defaults.additional_experiments[1]: "two words" is not an experiment`,
		`:21: defaults.additional_experiments[2]: duplicate experiment "enable_prime"`,
		`:26: event_types[1].worker_zone: worker_region us-central1 and worker_zone europe-west1 are both set`,
		`:26: event_types[1].subnetwork: subnetwork regions/europe-west1/subnetworks/dataflow is in europe-west1, but the workers run in us-central1`,
		`:35: event_types[1].additional_experiments: expected a list of experiments`,
	}
	msg := err.Error()
	for _, w := range want {
		if !strings.Contains(msg, w) {
			t.Errorf("missing problem %q in\n%s", w, msg)
		}
	}
	if len(verr.Problems) != len(want) {
		t.Errorf("got %d problems, want %d:\n%s", len(verr.Problems), len(want), msg)
	}
}

// A project without a default network that forbids external IPs: jobs launched without
// the network keys fail after a successful launch call; with them they run, and GetJob
// says what they were launched with, the way Dataflow reports it.
func TestNetworkKeysReachTheJob(t *testing.T) {
	ctx := context.Background()
	srv, c := launchertest.Dataflow(t, fakedataflow.WithNetworks("proj-000", "prod-vpc"), fakedataflow.WithExternalIPsForbidden("proj-000"))
	dir := t.TempDir()
	plain := launchertest.Load(t, dir, launchertest.Spec{EventTypes: 1})
	apply := func(f *fleet.Fleet) *deploy.Result {
		t.Helper()
		obs, err := plan.Observe(ctx, c, f, 4)
		if err != nil {
			t.Fatal(err)
		}
		res, err := deploy.Apply(ctx, c, plan.Compute(f, obs, plan.Options{}), deploy.Options{Wait: true, PollInterval: 1})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	res := apply(plain)
	if it := res.Items[0]; it.Status != deploy.Failed || !strings.Contains(it.Error, "is FAILED: Workflow failed. Causes: Network default is not accessible") {
		t.Errorf("without a network: %+v", it)
	}
	f := launchertest.Load(t, dir, launchertest.Spec{EventTypes: 1, Extra: "  network: prod-vpc\n  ip_configuration: private\n  worker_region: europe-west4\n" +
		"  launcher_machine_type: e2-small\n  kms_key_name: projects/proj-000/locations/europe-west1/keyRings/df/cryptoKeys/jobs\n" +
		"  additional_experiments: [enable_prime]\n"})
	res = apply(f)
	it := res.Items[0]
	if it.Status != deploy.Running || it.Action != plan.Recreate {
		t.Fatalf("with the network keys: %+v", it)
	}

	jobs, err := dfapi.NewJobsV1Beta3Client(ctx, gcpclient.Options(srv.Addr, nil)...)
	if err != nil {
		t.Fatal(err)
	}
	defer jobs.Close()
	got, err := jobs.GetJob(ctx, &dataflowpb.GetJobRequest{ProjectId: "proj-000", Location: "europe-west1", JobId: it.JobID, View: dataflowpb.JobView_JOB_VIEW_DESCRIPTION})
	if err != nil {
		t.Fatal(err)
	}
	env := got.GetEnvironment()
	pool := env.GetWorkerPools()[0]
	opts := env.GetSdkPipelineOptions().GetFields()["options"].GetStructValue().GetFields()
	if pool.GetNetwork() != "prod-vpc" || pool.GetIpConfiguration() != dataflowpb.WorkerIPAddressConfiguration_WORKER_IP_PRIVATE || env.GetUsePublicIps() ||
		env.GetWorkerRegion() != "europe-west4" || env.GetServiceKmsKeyName() != "projects/proj-000/locations/europe-west1/keyRings/df/cryptoKeys/jobs" ||
		!slices.Contains(env.GetExperiments(), "enable_prime") || !slices.Contains(env.GetExperiments(), "enable_streaming_engine") ||
		pool.GetMachineType() != "n2-standard-2" || pool.GetAutoscalingSettings().GetMaxNumWorkers() != 10 ||
		opts["stagingLocation"].GetStringValue() != "gs://bucket/tmp/staging" || env.GetTempStoragePrefix() != "gs://bucket/tmp" {
		t.Errorf("GetJob environment: %v", env)
	}
	// The launch parameters are the pipeline's flags, where Beam Go's Dataflow runner
	// records them; the launcher's client reads them back as the job's Options.
	goOpts := env.GetSdkPipelineOptions().GetFields()["beam:option:go_options:v1"].GetStructValue().GetFields()["options"].GetStructValue().GetFields()
	want := f.Jobs()[0].Parameters
	if goOpts[fleet.ParamSchemaJSON].GetStringValue() != want[fleet.ParamSchemaJSON] || goOpts[fleet.ParamEventType].GetStringValue() != "type-000" ||
		goOpts[fleet.ParamRunID].GetStringValue() != res.RunID {
		t.Errorf("GetJob go options: %v", goOpts)
	}
	if j, err := c.Get(ctx, "proj-000", "europe-west1", it.JobID); err != nil || j.Options[fleet.ParamSchemaJSON] != want[fleet.ParamSchemaJSON] || len(j.Options) != len(want)+1 {
		t.Errorf("Get options %v (%v), want the %d parameters and run_id", j.Options, err, len(want))
	}
	// The launcher machine type is not part of the Job resource; the fake's snapshot has
	// the launch environment as given.
	for _, s := range srv.Jobs() {
		if s.Job.Id == it.JobID && s.Environment.GetLauncherMachineType() != "e2-small" {
			t.Errorf("launch environment %v", s.Environment)
		}
	}
	// Summaries carry no environment.
	if l, _ := c.List(ctx, dataflow.ListRequest{Project: "proj-000", Region: "europe-west1"}); len(l) != 2 {
		t.Errorf("listed %d jobs", len(l))
	}
}
