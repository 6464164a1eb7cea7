// Test control shared by both servers: the stdin/stdout protocol of greenclient's
// interop tests (tests/scala_server.py), the same as the scala.actors server's
// and `python -m greenclient.server`'s.
//
// Arguments: [PORT (default 8000; 0 picks a free one)] [DELIMITER (default ~)].
// Commands on standard input, one per line; each is answered OK COMMAND once done:
//   send TEXT      write TEXT and the delimiter to every client, in one write
//   json TEXT      write the JSON text TEXT framed (delimiter escaped inside strings)
//   raw TEXT       write TEXT alone (no delimiter)
//   bytewise TEXT  write TEXT and the delimiter one byte per write
//   close          close every client connection
//   flood N        broadcast N messages {"seq":i,"text":...} as fast as possible;
//                  prints FLOOD N refused R1,R2,... (Writes refused per client)
//   quit           stop (end of input does too)
// Reports on standard output (UTF-8), one line each: LISTENING HOST PORT,
// CONNECTED N, DISCONNECTED N (N: clients now connected), RECEIVED JSON,
// INVALID REASON, PRINTED N "TEXT" (the plain server) and SLOW REASON.

package greenclient.pekko

import java.io.{BufferedReader, FileDescriptor, FileOutputStream, InputStreamReader, PrintStream}
import java.nio.charset.StandardCharsets

import scala.concurrent.Await
import scala.concurrent.duration._

import com.fasterxml.jackson.databind.ObjectMapper
import com.typesafe.config.ConfigFactory
import org.apache.pekko.actor.{ActorRef, ActorSystem}
import org.apache.pekko.pattern.ask
import org.apache.pekko.util.{ByteString, Timeout}

object Control {
  final case class SendBytes(bytes: ByteString)
  final case class SendText(text: String)
  final case class SendJson(json: String)
  case object CloseAll
  final case class Flood(n: Int)
  final case class StartProbe(asker: ActorRef, n: Int)
  case object Done
  final case class Reply(line: String)

  // The JVM's default charset follows the locale; the protocol is UTF-8 whatever it is.
  private val out = new PrintStream(new FileOutputStream(FileDescriptor.out), true, "UTF-8")
  private val mapper = new ObjectMapper()

  /** Prints one line of the protocol (thread-safe: PrintStream locks). */
  def say(line: String): Unit = out.println(line)

  /** `text` as a JSON string literal. */
  def quote(text: String): String = mapper.writeValueAsString(text)

  /** One frame of JSON text: the delimiter escaped inside strings, then the delimiter.
    *
    * Compact JSON holds a one-character delimiter such as "~" only inside strings,
    * where \u007e stands for the same character.
    */
  def frame(json: String, delimiter: String): String =
    if (delimiter.length == 1) json.replace(delimiter, "\\u%04x".format(delimiter.head.toInt)) + delimiter
    else if (json.contains(delimiter)) throw new IllegalArgumentException(s"cannot escape $delimiter")
    else json + delimiter

  /** The i-th message of a flood: about 100 bytes of JSON, non-ASCII and a "~" included. */
  def floodMessage(i: Int): String =
    s"""{"seq":$i,"text":"flood olá ~ 你好 😀 message number $i of the broadcast"}"""

  private val config = ConfigFactory.parseString(
    """pekko.loglevel = WARNING
      |pekko.stdout-loglevel = WARNING
      |pekko.log-dead-letters = off
      |pekko.log-dead-letters-during-shutdown = off
      |""".stripMargin)

  /** Starts the actor system and the server, then carries out commands from stdin. */
  def main(name: String, args: Array[String])(start: (ActorSystem, Int, String) => ActorRef): Unit = {
    val port = if (args.length > 0) args(0).toInt else 8000
    val delimiter = if (args.length > 1) args(1) else "~"
    val system = ActorSystem(name, config.withFallback(ConfigFactory.load()))
    val server = start(system, port, delimiter)
    val stdin = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8))
    implicit val timeout: Timeout = Timeout(300.seconds)
    def run(message: Any): Any = Await.result(server ? message, timeout.duration)
    def bytes(text: String) = ByteString(text, StandardCharsets.UTF_8)
    var running = true
    while (running) {
      val (command, rest) = Option(stdin.readLine()).getOrElse("quit").span(_ != ' ')
      val text = rest.drop(1)
      val done = command match {
        case "send" => run(SendBytes(bytes(text + delimiter))); true
        case "json" => run(SendJson(text)); true
        case "raw" => run(SendBytes(bytes(text))); true
        case "bytewise" =>
          for (byte <- bytes(text + delimiter)) {
            run(SendBytes(ByteString(byte)))
            Thread.sleep(1) // let each byte leave in a TCP segment of its own
          }
          true
        case "close" => run(CloseAll); true
        case "flood" =>
          run(Flood(text.trim.toInt)) match { case Reply(line) => say(line); case _ => }
          true
        case "quit" => running = false; true
        case "" => false
        case other => say("ERROR unknown command " + quote(other)); false
      }
      if (done) say("OK " + command)
    }
    Await.result(system.terminate(), 30.seconds)
    sys.exit(0)
  }
}
